package conn

import (
	"io"
	"sync"
	"time"
)

const (
	// aheadWindow bounds the memory a stream read ahead holds ahead of
	// its reader: enough to keep the link busy while the kernel and the
	// application take the previous bytes.
	aheadWindow = 4 << 20
	aheadChunk  = 256 << 10
	// aheadAfter is how many reads in a row must continue a stream
	// before it reads ahead: a random pattern never reaches it, so it costs
	// the link nothing beyond what each read asks for.
	aheadAfter = 2
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, aheadChunk); return &b }}

// streamAhead reads a transfer, directly until start is called, then
// through a goroutine that reads ahead of the caller into a bounded queue,
// so that the network and the caller's work overlap.
type streamAhead struct {
	r      io.ReadCloser
	active bool // set by start, read by the caller's goroutine only

	mu      sync.Mutex
	cond    sync.Cond
	chunks  []*[]byte // guarded by mu; queued data, chunks[0] from head
	lens    []int     // guarded by mu; bytes used in each chunk
	head    int       // guarded by mu
	held    int       // guarded by mu; capacity of the queued chunks
	err     error     // guarded by mu; how the transfer ended, once it has
	stopped bool      // guarded by mu
	done    chan struct{}
	// read counts the bytes taken from the transfer, and waited the time
	// spent in its reads: the stream's own rate, not the reader's (time
	// waiting for room in the queue is not counted). limit, once above
	// zero, is where the transfer is to stop (parallel.go).
	read   int64         // guarded by mu
	waited time.Duration // guarded by mu
	limit  int64         // guarded by mu
	// direct counts the bytes read before start, by the caller.
	direct int64
}

func newStreamAhead(r io.ReadCloser) *streamAhead {
	p := &streamAhead{r: r, done: make(chan struct{})}
	p.cond.L = &p.mu
	return p
}

// start begins reading ahead.
func (p *streamAhead) start() {
	if p.active {
		return
	}
	p.active = true
	go p.loop()
}

func (p *streamAhead) loop() {
	defer close(p.done)
	for {
		p.mu.Lock()
		for p.held >= aheadWindow && !p.stopped {
			p.cond.Wait()
		}
		stopped, want := p.stopped, int64(aheadChunk)
		if p.limit > 0 {
			want = min(want, p.limit-p.direct-p.read)
		}
		p.mu.Unlock()
		if stopped {
			return
		}
		if want <= 0 {
			p.end(io.EOF)
			return
		}
		buf := chunkPool.Get().(*[]byte)
		t := time.Now()
		n, err := p.r.Read((*buf)[:want])
		p.mu.Lock()
		p.read += int64(n)
		p.waited += time.Since(t)
		if n > 0 {
			p.chunks, p.lens = append(p.chunks, buf), append(p.lens, n)
			p.held += cap(*buf)
		} else {
			chunkPool.Put(buf)
		}
		if err != nil {
			p.err = err
		}
		p.cond.Broadcast()
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// end records how the transfer ended, for the reader.
func (p *streamAhead) end(err error) {
	p.mu.Lock()
	p.err = err
	p.cond.Broadcast()
	p.mu.Unlock()
}

// rate returns the bytes read ahead so far and the time the reads took.
func (p *streamAhead) rate() (int64, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.read, p.waited
}

// stopAt makes the read-ahead stop once it has taken n bytes from the
// transfer (counted from its start), reading as ended there.
func (p *streamAhead) stopAt(n int64) {
	p.mu.Lock()
	p.limit = n
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Read reads from the queue once reading ahead, else from the transfer.
func (p *streamAhead) Read(b []byte) (int, error) {
	if !p.active {
		n, err := p.r.Read(b)
		p.direct += int64(n)
		return n, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.chunks) == 0 && p.err == nil {
		p.cond.Wait()
	}
	if len(p.chunks) == 0 {
		return 0, p.err
	}
	n := 0
	for n < len(b) && len(p.chunks) > 0 {
		c := (*p.chunks[0])[p.head:p.lens[0]]
		k := copy(b[n:], c)
		n += k
		p.head += k
		if p.head == p.lens[0] {
			p.held -= cap(*p.chunks[0])
			chunkPool.Put(p.chunks[0])
			p.chunks, p.lens, p.head = p.chunks[1:], p.lens[1:], 0
		}
	}
	p.cond.Broadcast()
	return n, nil
}

// Close stops reading ahead and closes the transfer, returning what the
// transfer's close reports (the server's final reply).
func (p *streamAhead) Close() error {
	p.mu.Lock()
	p.stopped = true
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.r.Close() // also ends a read the goroutine is blocked in
	if p.active {
		<-p.done
	}
	p.mu.Lock()
	for _, c := range p.chunks {
		chunkPool.Put(c)
	}
	p.chunks, p.lens, p.held = nil, nil, 0
	p.mu.Unlock()
	return err
}
