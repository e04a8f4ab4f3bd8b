// Command latency-proxy simulates a network link with a fixed delay, for
// measuring ftpfs (or any TCP client) as if its server were far away, on a
// kernel without netem. It listens on one address on a list of ports (an
// FTP server's control port and its passive range) and forwards every
// connection to the same port on the target address, delivering every byte
// a fixed one-way delay later in each direction, so that every round trip
// gains 2×delay:
//
//	go build -o /tmp/latency-proxy ./scripts/latency-proxy
//	/tmp/latency-proxy -listen 127.0.0.2 -target 127.0.0.1 -ports 21021,21022-21040 -delay 25ms
//
// then point the client at 127.0.0.2:21021. An FTP server must name the
// proxy's address in its PASV replies (scripts/ftp-server --pasv-address
// 127.0.0.2); EPSV replies carry a port only, which the client dials on the
// control connection's address, so they need nothing. The proxy prints
// "ready" on stdout once it listens on every port, and exits with status 0
// on SIGTERM or SIGINT, closing every connection. Exit status 2 is a usage
// error, 3 a port that is already in use, 1 any other failure.
//
// The link has no bandwidth limit and no loss: bytes are read as soon as
// they arrive and queued with the time they are due (read time + delay),
// up to -max-buffer bytes per direction and connection (default 64 MiB,
// beyond which the sender is flow-controlled), so a full bandwidth-delay
// product is in flight and throughput is not reduced beyond what the delay
// implies. Order is kept; a half-close (EOF) is passed on as a half-close
// (shutdown of the write side) when it is due; an error on either side
// (a reset, a failed write) closes both sides at once.
//
// Connection set-up: the proxy's kernel completes the client's TCP
// handshake at once, so connect(2) returns without delay. To make a new
// connection cost what it costs on a real link, the proxy dials the target
// only -dial-delay after accepting (default 3×delay): on a real link the
// server's accept(2) returns when the client's final ACK arrives, three
// one-way delays after the client's SYN (SYN, SYN-ACK, ACK). Bytes the
// client sends meanwhile are held until then, as its kernel would hold
// them until its connect returned one round trip after the SYN. So the
// server accepts at the same moment as on a real link, and the client
// receives every byte (a greeting, a 150 reply, data) at the same moment
// too: a greeting arrives two round trips (4×delay) after connect, an echo
// of bytes sent right after connect two round trips later as well. Only
// connect(2) itself returns early, and a connection the target refuses is
// accepted and then reset after the dial delay, instead of being refused.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config is what a Proxy does.
type Config struct {
	Listen    string        // address to listen on, e.g. 127.0.0.2
	Target    string        // address to forward to, e.g. 127.0.0.1
	Ports     []int         // ports to listen on, each forwarded to the same port on Target
	Delay     time.Duration // one-way delay, each direction
	DialDelay time.Duration // from accepting a connection to dialling the target
	MaxBuffer int           // bytes queued per direction and connection before the sender waits
	Log       io.Writer     // connection errors (nil: none)
	Verbose   bool          // also log every connection
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("latency-proxy", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listen := fl.String("listen", "127.0.0.2", "address to listen on")
	target := fl.String("target", "127.0.0.1", "address to forward to (the same port)")
	ports := fl.String("ports", "", "ports to listen on: a list of N and LO-HI, e.g. 21021,21022-21040")
	delay := fl.Duration("delay", 0, "one-way delay in each direction, e.g. 25ms (a round trip gains twice that); required")
	dialDelay := fl.Duration("dial-delay", 0, "time from accepting a connection to dialling the target; default 3×delay (see the doc comment)")
	maxBuf := fl.Int("max-buffer", 64<<20, "bytes in flight per direction and connection before the sender waits")
	verbose := fl.Bool("v", false, "log every connection on stderr")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: latency-proxy -ports LIST -delay D [-listen ADDR] [-target ADDR] [-dial-delay D] [-max-buffer N] [-v]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "latency-proxy: "+msg)
		fl.Usage()
		return 2
	}
	if fl.NArg() > 0 {
		return usage("unexpected argument " + strconv.Quote(fl.Arg(0)))
	}
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["delay"] || *delay < 0 {
		return usage("-delay is required (0 or more, e.g. 25ms)")
	}
	pl, err := parsePorts(*ports)
	if err != nil {
		return usage(err.Error())
	}
	if !set["dial-delay"] {
		*dialDelay = 3 * *delay
	} else if *dialDelay < 0 {
		return usage("-dial-delay must not be negative")
	}
	if *maxBuf < 1 {
		return usage("-max-buffer must be positive")
	}
	for _, a := range []string{*listen, *target} {
		if net.ParseIP(a) == nil {
			return usage(strconv.Quote(a) + " is not an IP address")
		}
	}
	cfg := Config{Listen: *listen, Target: *target, Ports: pl, Delay: *delay, DialDelay: *dialDelay,
		MaxBuffer: *maxBuf, Log: stderr, Verbose: *verbose}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	p, err := Start(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "latency-proxy:", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			return 3
		}
		return 1
	}
	fmt.Fprintln(stdout, "ready")
	<-sigs
	p.Close()
	return 0
}

// parsePorts reads "21021,21022-21040".
func parsePorts(s string) ([]int, error) {
	if s == "" {
		return nil, errors.New("-ports is required (e.g. 21021,21022-21040)")
	}
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
			return nil, fmt.Errorf("bad port or range %q in -ports (want N or LO-HI, 1 to 65535)", part)
		}
		for p := a; p <= b; p++ {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if len(out) > 20000 {
		return nil, fmt.Errorf("-ports names %d ports; at most 20000", len(out))
	}
	sort.Ints(out)
	return out, nil
}

// Proxy is a running latency proxy.
type Proxy struct {
	cfg       Config
	listeners []net.Listener
	wg        sync.WaitGroup

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
}

// Start listens on every port of cfg and serves in the background until
// Close. It fails, listening on nothing, if any port cannot be had.
func Start(cfg Config) (*Proxy, error) {
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = 64 << 20
	}
	p := &Proxy{cfg: cfg, links: map[*link]struct{}{}}
	for _, port := range cfg.Ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Listen, strconv.Itoa(port)))
		if err != nil {
			for _, l := range p.listeners {
				l.Close()
			}
			return nil, err
		}
		p.listeners = append(p.listeners, ln)
	}
	for i, ln := range p.listeners {
		p.wg.Add(1)
		go p.accept(ln, cfg.Ports[i])
	}
	return p, nil
}

// Close stops listening, closes every connection and waits for all of the
// proxy's goroutines to end.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, ln := range p.listeners {
		ln.Close()
	}
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
}

func (p *Proxy) logf(format string, args ...any) {
	if p.cfg.Log != nil {
		fmt.Fprintf(p.cfg.Log, "latency-proxy: "+format+"\n", args...)
	}
}

func (p *Proxy) accept(ln net.Listener, port int) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: back off a little instead of spinning.
			p.logf("accept on port %d: %v", port, err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l := &link{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			p.serve(l, port)
			p.mu.Lock()
			delete(p.links, l)
			p.mu.Unlock()
		}()
	}
}

// link is one proxied connection.
type link struct {
	client net.Conn
	done   chan struct{} // closed by close: everything stops

	mu     sync.Mutex
	server net.Conn // nil until dialled
	closed bool
}

// close closes both sides at once (idempotent).
func (l *link) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	s := l.server
	close(l.done)
	l.mu.Unlock()
	l.client.Close()
	if s != nil {
		s.Close()
	}
}

// setServer records the dialled connection; false if the link was closed
// meanwhile.
func (l *link) setServer(s net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.server = s
	return true
}

func (p *Proxy) serve(l *link, port int) {
	up := newQueue(p.cfg.MaxBuffer)   // client to server
	down := newQueue(p.cfg.MaxBuffer) // server to client
	var readers sync.WaitGroup
	defer readers.Wait()
	defer l.close()

	readers.Add(1)
	go func() {
		defer readers.Done()
		p.pump(l, l.client, up)
	}()

	// Connection set-up: see the doc comment.
	if p.cfg.DialDelay > 0 {
		t := time.NewTimer(p.cfg.DialDelay)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return
		}
	}
	addr := net.JoinHostPort(p.cfg.Target, strconv.Itoa(port))
	s, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		p.logf("%s: %v", addr, err)
		// What the client would have seen: a refused connection is a reset.
		if tc, ok := l.client.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return
	}
	if !l.setServer(s) {
		s.Close()
		return
	}
	if p.cfg.Verbose {
		p.logf("%s -> %s", l.client.RemoteAddr(), addr)
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		p.pump(l, s, down)
	}()
	// Both directions are written here; the link ends when both have
	// passed on their EOF, or at the first error.
	res := make(chan bool, 2)
	go func() { res <- deliver(l, up, s) }()
	go func() { res <- deliver(l, down, l.client) }()
	<-res
	<-res
}

// chunk is bytes read at one time, or the EOF, and when it is due.
type chunk struct {
	data []byte
	eof  bool
	due  time.Time
}

// queue is one direction's bytes in flight, in order.
type queue struct {
	max int

	mu    sync.Mutex
	items []chunk
	bytes int

	wake chan struct{} // a chunk was pushed
	room chan struct{} // chunks were taken
}

func newQueue(max int) *queue {
	return &queue{max: max, wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func signal1(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push appends c, waiting while the queue is full; false if done closed.
func (q *queue) push(c chunk, done <-chan struct{}) bool {
	for {
		q.mu.Lock()
		if q.bytes == 0 || q.bytes+len(c.data) <= q.max {
			q.items = append(q.items, c)
			q.bytes += len(c.data)
			q.mu.Unlock()
			signal1(q.wake)
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-done:
			return false
		}
	}
}

// maxBatch bounds the bytes handed to one write.
const maxBatch = 4 << 20

// next waits until the first chunk is due and returns it with every later
// chunk that is due too (up to maxBatch bytes, and ending at an EOF); false
// if done closed.
func (q *queue) next(done <-chan struct{}) ([]chunk, bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-done:
				return nil, false
			}
		}
		now := time.Now()
		if wait := q.items[0].due.Sub(now); wait > 0 {
			q.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
				continue
			case <-done:
				return nil, false
			}
		}
		n, size := 0, 0
		for n < len(q.items) && !q.items[n].due.After(now) && (n == 0 || size+len(q.items[n].data) <= maxBatch) {
			size += len(q.items[n].data)
			n++
			if q.items[n-1].eof {
				break
			}
		}
		batch := make([]chunk, n)
		copy(batch, q.items[:n])
		clear(q.items[:n]) // let the bytes be collected
		q.items = q.items[n:]
		if len(q.items) == 0 {
			q.items = nil
		}
		q.bytes -= size
		q.mu.Unlock()
		signal1(q.room)
		return batch, true
	}
}

// pump reads src into q, stamping every read with its due time. EOF is
// queued like bytes; any other error closes the link.
func (p *Proxy) pump(l *link, src net.Conn, q *queue) {
	buf := make([]byte, 256<<10)
	for {
		n, err := src.Read(buf)
		due := time.Now().Add(p.cfg.Delay)
		if n > 0 {
			data := make([]byte, n)
			copy(data, buf[:n])
			if !q.push(chunk{data: data, due: due}, l.done) {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				q.push(chunk{eof: true, due: due}, l.done)
			} else {
				l.close()
			}
			return
		}
	}
}

// deliver writes q to dst as its chunks fall due, and passes on the EOF as
// a half-close. It returns true once the EOF is passed on; on an error it
// closes the link and returns false.
func deliver(l *link, q *queue, dst net.Conn) bool {
	for {
		batch, ok := q.next(l.done)
		if !ok {
			return false
		}
		bufs := make(net.Buffers, 0, len(batch))
		eof := false
		for _, c := range batch {
			if c.eof {
				eof = true
				break
			}
			bufs = append(bufs, c.data)
		}
		if len(bufs) > 0 {
			if _, err := bufs.WriteTo(dst); err != nil {
				l.close()
				return false
			}
		}
		if eof {
			if tc, ok := dst.(*net.TCPConn); ok {
				if err := tc.CloseWrite(); err != nil {
					l.close()
					return false
				}
			}
			return true
		}
	}
}
