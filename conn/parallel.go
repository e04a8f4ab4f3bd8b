package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// A parallel read: many servers cap each session's rate (vsftpd
// local_max_rate, pure-ftpd -T, proftpd TransferRate), so that one stream
// reads at a fraction of the link. Once a file has been read in order for a
// while, is large, and its stream is slow, what lies ahead is split into
// ranges, each fetched by REST+RETR on a session of its own, and handed to
// the reader in order, as lftp's pget -n does.
const (
	// DefaultParallel is how many transfers one file read in order may
	// use at once, where Config.Parallel is zero.
	DefaultParallel = 4
	// parallelWindow bounds the bytes fetched ahead of the reader, over
	// all ranges; each range is a share of it, so that every transfer
	// keeps receiving while the reader waits for the first.
	parallelWindow = 96 << 20
	// parallelBehind is how much of what the reader took is kept: the
	// kernel's reads of a file read in order reach ftpfs slightly out of
	// order (several are in flight, and take the file's lock in any
	// order), and a read behind the reader must not drop 56 MiB fetched
	// ahead.
	parallelBehind = 8 << 20
	// parallelProbe is how much the stream must have read ahead, at a
	// rate below parallelBelow, before its file is read in parallel:
	// enough to measure it, little beside a large file.
	parallelProbe = 2 << 20
	// parallelInOrder is how much of a file its reader must have read in
	// order, from where its stream started, before the rest is read in
	// parallel: random reads of a few MiB each never start it.
	parallelInOrder = 4 << 20
	// parallelWarm is how much a stream has read ahead, at a rate below
	// parallelBelow, when the sessions of a parallel read start logging
	// in (see Pool.warm), so that they are ready when the probe ends.
	parallelWarm = 512 << 10
	// parallelBelow is the rate (bytes/s) under which one stream is
	// deemed slow: a loopback or LAN transfer is faster and gains nothing
	// from more, a per-session cap or a long-haul TCP stream is slower.
	parallelBelow = 64e6
	// maxParallelFails is how many parallel reads of one file may fail
	// before it is read with one stream only.
	maxParallelFails = 2
	// spareWait is how long a range fetcher waits between asking the pool
	// for a spare session, and spareGiveUp how long it asks before it
	// leaves its ranges to the others (or the reader's own stream).
	spareWait   = 20 * time.Millisecond
	spareGiveUp = 2 * time.Second
)

// errParallelEnd tells File that no fetcher is left for the bytes at the
// reader's offset: not a failure, it reads on with one stream.
var errParallelEnd = errors.New("parallel read: no transfer left")

// errStopped ends a range whose read was closed.
var errStopped = errors.New("parallel read closed")

// parallelTuning replaces the constants above where set, for tests: a
// window of a few MiB, a rate that every stream is below, ranges that fail.
type parallelTuning struct {
	window, probe int64
	below         float64
	// wrap, when set, wraps the transfer of each range the fetchers
	// start, given the range's offset.
	wrap func(r io.ReadCloser, off int64) io.ReadCloser
}

func (t *parallelTuning) windowSize() int64 {
	if t.window > 0 {
		return t.window
	}
	return parallelWindow
}

// slow reports whether n bytes read in d are enough to judge and too slow.
func (t *parallelTuning) slow(n int64, d time.Duration) bool {
	probe, below := int64(parallelProbe), parallelBelow
	if t.probe > 0 {
		probe = t.probe
	}
	if t.below > 0 {
		below = t.below
	}
	return n >= probe && float64(n) < below*d.Seconds()
}

// parallel returns how many transfers a file read may use at once: the
// configured number, leaving one session for everything else.
func (p *Pool) parallel() int {
	n := p.cfg.Parallel
	if n == 0 {
		n = DefaultParallel
	}
	return max(1, min(n, p.cfg.Connections-1))
}

// maybeParallel turns the file's stream into a parallel read when the file
// is large, the stream has read enough ahead to be measured, and it is
// slow.
func (f *File) maybeParallel() {
	sa, ok := f.resp.(*streamAhead)
	width := f.p.parallel()
	if !ok || width < 2 || f.size < 0 || f.parFails >= maxParallelFails || f.p.q.ref.refused(optRestRetr) {
		return
	}
	span := f.p.par.windowSize() / int64(width+2)
	if f.size-f.pos < 2*span {
		return
	}
	n, d := sa.rate()
	// A program reading a few MiB here and there must not set off ranges
	// it never reads: the file must have been read parallelInOrder in
	// order first (tests tune the probe and skip it).
	inOrder := f.pos-f.from >= parallelInOrder || f.p.par.probe != 0
	if !inOrder || !f.p.par.slow(n, d) {
		if !f.warmed && n >= parallelWarm && f.pos-f.from >= parallelWarm && float64(n) < parallelBelow*d.Seconds() {
			// Slow from its first bytes: the sessions the ranges will
			// need log in while the probe reads on, not after it.
			f.warmed = true
			f.p.warm(width - 1)
		}
		return
	}
	f.p.cfg.Logger.Debug("reading in parallel", "path", f.path, "from", f.pos, "transfers", width,
		"stream_rate_MBps", fmt.Sprintf("%.1f", float64(n)/d.Seconds()/1e6))
	f.resp = newParallelRead(f, f.s, sa, f.pos, f.pos-f.from, width, span)
	f.s = nil
}

// parallelRead reads a file from pos to its end through up to width
// transfers at once, each fetching one range, delivered in order (and
// again within parallelBehind of the reader's offset). Each range runs to
// its end and closes its data connection; the server's reply to that (426,
// 451 or 226) is expected, and the session goes back to the pool after the
// usual check. The last range reads to the transfer's end,
// as one stream would. A range that fails hands the reader its bytes up to
// the failure, then a transient error: File reads on from there with one
// stream. Memory is bounded by parallelWindow and parallelBehind plus a
// chunk per transfer.
type parallelRead struct {
	p      *Pool
	path   string
	size   int64
	window int64 // bytes fetched ahead of the reader, at most
	span   int64 // bytes per range
	retr   func(*Session, int64) (io.ReadCloser, error)
	ctx    context.Context // ends the fetchers' dials on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetchers, and sessions being put back

	mu      sync.Mutex
	cond    sync.Cond
	ranges  []*rangeFetch // guarded by mu; claimed, in order, from parallelBehind before pos
	pos     int64         // guarded by mu; offset of the reader's next byte
	next    int64         // guarded by mu; start of the next range to claim
	held    int64         // guarded by mu; bytes buffered, by capacity
	workers int           // guarded by mu; fetchers still running
	stopped bool          // guarded by mu
	// stats for the log: ranges fetched and how many failed.
	fetched, failed int // guarded by mu
	started         time.Time
}

// rangeFetch is one range, [off, end), end -1 for the last: to the end of
// the transfer.
type rangeFetch struct {
	off, end int64
	chunks   []*[]byte // received data, chunks[0] from base
	lens     []int
	base     int64 // file offset of chunks[0]
	got      int64 // bytes received
	done     bool  // received whole, or err
	err      error
	abort    func() error // closes the data connection, ending a blocked read
}

// newParallelRead takes over the stream sa on session s, at offset pos of
// the file and taken bytes into the transfer: it finishes the first range
// on it, while width-1 fetchers start on the ranges after it.
func newParallelRead(f *File, s *Session, sa *streamAhead, pos, taken int64, width int, span int64) *parallelRead {
	pr := &parallelRead{p: f.p, path: f.path, size: f.size, window: f.p.par.windowSize(), span: span, retr: f.restRetr,
		pos: pos, next: pos + span, workers: width, started: time.Now()}
	pr.cond.L = &pr.mu
	pr.ctx, pr.cancel = context.WithCancel(context.Background())
	first := &rangeFetch{off: pos, end: pos + span, base: pos, abort: s.data.abort}
	pr.ranges = []*rangeFetch{first}
	sa.stopAt(taken + span)
	pr.wg.Add(width)
	go pr.fetcher(first, s, sa)
	for i := 1; i < width; i++ {
		go pr.fetcher(nil, nil, nil)
	}
	return pr
}

// restRetr starts a transfer at off with REST, and never from the start:
// a server that refuses REST is learnt, and the range fails to the reader,
// whose own stream knows what to do.
func (f *File) restRetr(s *Session, off int64) (io.ReadCloser, error) {
	path, err := s.arg(f.path)
	if err != nil {
		return nil, err
	}
	resp, err := s.c.RetrFrom(path, uint64(off))
	if err != nil && refused(err) && (s.ctl.lastVerb == "REST" || mentionsRestart(err)) {
		f.p.q.ref.learn(optRestRetr, wrapErr("retr", f.path, err).Error())
	}
	return resp, err
}

func (pr *parallelRead) start() {}

// fetcher fetches ranges until none is left or the read is closed: first
// (on s, through src) if given, then each range it claims, on a spare
// session of the pool.
func (pr *parallelRead) fetcher(first *rangeFetch, s *Session, src io.ReadCloser) {
	defer pr.wg.Done()
	defer func() {
		pr.mu.Lock()
		pr.workers--
		pr.cond.Broadcast()
		pr.mu.Unlock()
	}()
	rf := first
	for {
		if rf == nil {
			if rf, s = pr.claim(); rf == nil {
				return
			}
			resp, err := pr.retr(s, rf.off)
			if err != nil {
				err = s.explain(wrapErr("retr", pr.path, err))
				pr.finish(rf, err)
				pr.p.put(s, err)
				return
			}
			src = resp
			if pr.p.par.wrap != nil {
				src = pr.p.par.wrap(src, rf.off)
			}
			pr.mu.Lock()
			rf.abort = s.data.abort
			stopped := pr.stopped
			pr.mu.Unlock()
			if stopped {
				_ = rf.abort()
			}
		}
		if !pr.fetch(rf, s, src) {
			return
		}
		rf, s, src = nil, nil, nil
	}
}

// claim waits for a range to start within the window, takes a spare
// session, and claims the range; nil when there is nothing left to fetch,
// the read is closed, or the pool had no session to spare for spareGiveUp.
func (pr *parallelRead) claim() (*rangeFetch, *Session) {
	since := time.Now()
	for {
		pr.mu.Lock()
		for !pr.stopped && pr.next < pr.size && pr.next >= pr.pos+pr.window {
			pr.cond.Wait()
		}
		if pr.stopped || pr.next >= pr.size {
			pr.mu.Unlock()
			return nil, nil
		}
		pr.mu.Unlock()
		s, ok, err := pr.p.getSpare(pr.ctx)
		if err != nil {
			pr.p.cfg.Logger.Debug("parallel read: no extra session", "path", pr.path, "err", err)
			return nil, nil
		}
		if !ok {
			if time.Since(since) > spareGiveUp || !pr.sleep(spareWait) {
				return nil, nil
			}
			continue
		}
		pr.mu.Lock()
		if pr.stopped || pr.next >= pr.size {
			pr.mu.Unlock()
			pr.p.put(s, nil)
			return nil, nil
		}
		rf := &rangeFetch{off: pr.next, end: pr.next + pr.span, base: pr.next}
		if rf.end >= pr.size {
			rf.end = -1
		}
		pr.next += pr.span
		pr.ranges = append(pr.ranges, rf)
		pr.mu.Unlock()
		return rf, s
	}
}

// sleep waits d, or until the read is closed; false then.
func (pr *parallelRead) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-pr.ctx.Done():
		return false
	}
}

// fetch reads rf from src, then ends the transfer and puts s back (in the
// background when the range ended early, so that the fetcher goes on at
// once). It reports whether the fetcher may go on with another range.
func (pr *parallelRead) fetch(rf *rangeFetch, s *Session, src io.ReadCloser) bool {
	err := pr.receive(rf, src)
	if err == nil && rf.end < 0 {
		// The last range: read to the transfer's end, whose reply counts.
		err = transferEnd(wrapErr("retr", pr.path, src.Close()))
		if err == nil && rf.off+rf.got < pr.size {
			err = &Error{Op: "retr", Path: pr.path, Err: ErrTransient,
				Msg: fmt.Sprintf("the transfer ended at byte %d of %d", rf.off+rf.got, pr.size)}
		}
		pr.finish(rf, err)
		pr.p.put(s, err)
		return false
	}
	pr.finish(rf, err)
	if err != nil {
		pr.p.put(s, wrapErr("retr", pr.path, errors.Join(err, src.Close())))
		return false
	}
	// Ended early on purpose: the server's reply to the closed data
	// connection (426, 451 or 226) is expected; put's NOOP checks that the
	// session is in step before anyone reuses it.
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		closeErr := src.Close()
		// The next range on this session starts with REST: its data
		// port is asked for now, off the reader's path (see ahead.go),
		// and the EPSV's answer shows the session in step.
		if s.openAheadNow() {
			closeErr = nil
		}
		_ = pr.p.put(s, wrapErr("retr", pr.path, closeErr))
		pr.cond.Broadcast()
	}()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return !pr.stopped
}

// receive reads rf's bytes into its queue, waiting for room unless rf is
// the reader's range. It returns nil once rf is whole (for the last range:
// at the end of the transfer), else why it stopped.
func (pr *parallelRead) receive(rf *rangeFetch, src io.Reader) error {
	for {
		pr.mu.Lock()
		// Only a range ahead of the reader waits for room: the reader's
		// own must go on, and one the reader passed (a read out of
		// order moved it on) has its bytes released as they come.
		for !pr.stopped && pr.held >= pr.window+parallelBehind && rf.off > pr.pos {
			pr.cond.Wait()
		}
		stopped, want := pr.stopped, int64(aheadChunk)
		if rf.end >= 0 {
			want = min(want, rf.end-rf.off-rf.got)
		}
		pr.mu.Unlock()
		if stopped {
			return errStopped
		}
		if want == 0 {
			return nil
		}
		buf := chunkPool.Get().(*[]byte)
		n, err := io.ReadFull(src, (*buf)[:want])
		pr.mu.Lock()
		if n > 0 {
			rf.chunks, rf.lens = append(rf.chunks, buf), append(rf.lens, n)
			rf.got += int64(n)
			pr.held += int64(cap(*buf))
			pr.cond.Broadcast()
		} else {
			chunkPool.Put(buf)
		}
		pr.mu.Unlock()
		switch {
		case err == nil:
		case (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && rf.end < 0:
			return nil
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return &Error{Op: "retr", Path: pr.path, Err: ErrTransient,
				Msg: fmt.Sprintf("the transfer of the range from byte %d ended at byte %d, short of %d", rf.off, rf.off+rf.got, rf.end)}
		default:
			return err
		}
	}
}

// finish marks rf done; a failure reaches the reader once it has the bytes
// before it, as a transient error, so that its own stream asks again.
func (pr *parallelRead) finish(rf *rangeFetch, err error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	rf.done = true
	pr.fetched++
	if err != nil {
		if !pr.stopped {
			pr.failed++
			pr.p.cfg.Logger.Debug("parallel read: a range failed", "path", pr.path, "from", rf.off+rf.got, "err", err)
		}
		rf.err = rangeErr(pr.path, rf.off+rf.got, err)
	}
	pr.cond.Broadcast()
}

// rangeErr makes a range's failure transient for the reader, whose own
// stream then asks again: only a failure of that stream reaches the
// application.
func rangeErr(path string, at int64, err error) error {
	e := &Error{Op: "retr", Path: path, Msg: fmt.Sprintf("parallel range at byte %d: %v", at, err),
		Err: errors.Join(err, ErrTransient)}
	var fe *Error
	if errors.As(err, &fe) {
		e.Code = fe.Code
	}
	return e
}

// Read hands out the bytes at the reader's offset, in order. It returns
// io.EOF after the last range; a range's failure once the bytes before it
// are read; errParallelEnd when no fetcher is left for what lies ahead.
func (pr *parallelRead) Read(b []byte) (int, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for {
		if pr.stopped {
			return 0, errStopped
		}
		rf := pr.at(pr.pos)
		switch {
		case rf == nil && pr.workers == 0:
			return 0, errParallelEnd
		case rf == nil:
			pr.cond.Wait()
		case pr.pos < rf.off+rf.got:
			n := rf.copyAt(b, pr.pos)
			pr.pos += int64(n)
			pr.release()
			pr.cond.Broadcast()
			return n, nil
		case !rf.done:
			pr.cond.Wait()
		case rf.err != nil:
			return 0, rf.err
		default: // the last range, whole
			return 0, io.EOF
		}
	}
}

// at returns the claimed range that holds off, or nil.
func (pr *parallelRead) at(off int64) *rangeFetch {
	for _, rf := range pr.ranges {
		if off >= rf.off && (rf.end < 0 || off < rf.end) {
			return rf
		}
	}
	return nil
}

// copyAt copies into b the received bytes of rf from off.
func (rf *rangeFetch) copyAt(b []byte, off int64) int {
	n, o := 0, rf.base
	for i, c := range rf.chunks {
		l := int64(rf.lens[i])
		if at := off + int64(n); at < o+l {
			n += copy(b[n:], (*c)[at-o:l])
			if n == len(b) {
				break
			}
		}
		o += l
	}
	return n
}

// release frees what lies more than parallelBehind before the reader, in
// every range (one still being received may lie behind the reader after a
// read out of order), and forgets the ranges done and freed at the front.
func (pr *parallelRead) release() {
	low := pr.pos - parallelBehind
	for _, rf := range pr.ranges {
		if rf.off >= low {
			break
		}
		for len(rf.chunks) > 0 && rf.base+int64(rf.lens[0]) <= low {
			pr.held -= int64(cap(*rf.chunks[0]))
			chunkPool.Put(rf.chunks[0])
			rf.base += int64(rf.lens[0])
			rf.chunks, rf.lens = rf.chunks[1:], rf.lens[1:]
		}
	}
	for len(pr.ranges) > 0 {
		rf := pr.ranges[0]
		if !rf.done || rf.end < 0 || rf.end > low || len(rf.chunks) > 0 {
			return
		}
		pr.ranges = pr.ranges[1:]
	}
}

// seekTo moves the reader to off if the bytes there are kept or being
// fetched close ahead: the kernel's reads of a file read in order reach
// ftpfs slightly out of order, within parallelBehind either way. It
// reports whether it did; a longer jump ahead restarts File's stream
// rather than fetch the ranges it skips.
func (pr *parallelRead) seekTo(off int64) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.stopped || off > pr.pos+parallelBehind {
		return false
	}
	// The range's bytes before its base were released (see release).
	if rf := pr.at(off); rf == nil || off < rf.base {
		return false
	}
	pr.pos = off
	pr.release()
	pr.cond.Broadcast()
	return true
}

// Close stops the fetchers, ends their transfers and waits until every
// session is back in the pool.
func (pr *parallelRead) Close() error {
	pr.mu.Lock()
	if pr.stopped {
		pr.mu.Unlock()
		return nil
	}
	pr.stopped = true
	for _, rf := range pr.ranges {
		if !rf.done && rf.abort != nil {
			_ = rf.abort()
		}
	}
	pr.cond.Broadcast()
	pr.mu.Unlock()
	pr.cancel()
	pr.wg.Wait()
	pr.mu.Lock()
	for _, rf := range pr.ranges {
		for _, c := range rf.chunks {
			chunkPool.Put(c)
		}
	}
	pr.ranges, pr.held = nil, 0
	pr.p.cfg.Logger.Debug("parallel read ended", "path", pr.path, "at", pr.pos, "ranges", pr.fetched,
		"failed", pr.failed, "took", time.Since(pr.started).Round(time.Millisecond))
	pr.mu.Unlock()
	return nil
}
