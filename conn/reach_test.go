package conn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gate is a TCP relay in front of the in-process server's control port
// that the test can take away and bring back on the same port: the server
// gone, as the client sees it. Data connections go to the server directly.
type gate struct {
	t       *testing.T
	addr    string // the relay's address, fixed for its life
	backend string
	// hang makes the relay accept and say nothing: a server that is up
	// but never greets.
	hang bool

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newGate(t *testing.T, backend string) *gate {
	g := &gate{t: t, backend: backend, conns: map[net.Conn]struct{}{}}
	g.open("127.0.0.1:0")
	g.addr = g.ln.Addr().String()
	t.Cleanup(g.shut)
	return g
}

func (g *gate) port() int { return g.ln.Addr().(*net.TCPAddr).Port }

// open listens (again) and relays until shut.
func (g *gate) open(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		g.t.Fatal(err)
	}
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.relay(c)
		}
	}()
}

func (g *gate) relay(c net.Conn) {
	g.mu.Lock()
	g.conns[c] = struct{}{}
	hang := g.hang
	g.mu.Unlock()
	if hang {
		return
	}
	b, err := net.Dial("tcp", g.backend)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	g.conns[b] = struct{}{}
	g.mu.Unlock()
	g.wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer g.wg.Done()
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	go pipe(b, c)
	go pipe(c, b)
}

// shut stops listening and cuts every relayed connection: connects are
// refused from now on.
func (g *gate) shut() {
	g.mu.Lock()
	g.ln.Close()
	for c := range g.conns {
		c.Close()
	}
	g.conns = map[net.Conn]struct{}{}
	g.mu.Unlock()
	g.wg.Wait()
}

// gatedPool is a pool on the in-process server behind a gate.
func gatedPool(t *testing.T, retry, timeout time.Duration) (*Pool, *gate, *transcript) {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := newGate(t, serveRoot(t, root).String())
	tr := &transcript{}
	p, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: g.port(), User: "u", Password: "p",
		Connections: 2, RetryTimeout: retry, Timeout: timeout, Logger: logTo(tr)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, g, tr
}

// lines returns the transcript's lines holding s.
func (tr *transcript) lines(s string) []string {
	var out []string
	for _, l := range strings.Split(tr.text(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// timedList lists / and says how long it took.
func timedList(p *Pool) (time.Duration, error) {
	start := time.Now()
	_, err := p.List(context.Background(), "/")
	return time.Since(start), err
}

// TestUnreachableFailsFast takes the server away: the first operation
// spends its retries (retry_timeout 1 s) and finds out; the next ones fail
// at once with ErrUnreachable; one WARN says so; the probe finds the
// server back on its own, the first operation then succeeds, and one INFO
// says so.
func TestUnreachableFailsFast(t *testing.T) {
	p, g, tr := gatedPool(t, time.Second, 5*time.Second)
	if _, err := timedList(p); err != nil {
		t.Fatal(err)
	}
	g.shut()
	took, err := timedList(p)
	if err == nil || !IsTransient(err) || took < 900*time.Millisecond {
		t.Fatalf("first operation with the server gone: %v after %v; want a transient error after retry_timeout", err, took)
	}
	if h := p.Health(); h.UnreachableSince.IsZero() || h.Reachable() {
		t.Fatalf("health after the retries were spent connecting: %+v", h)
	}
	for i := 0; i < 5; i++ {
		took, err := timedList(p)
		if !errors.Is(err, ErrUnreachable) || IsTransient(err) || took > 50*time.Millisecond {
			t.Fatalf("operation %d while unreachable: %v after %v; want ErrUnreachable at once", i, err, took)
		}
	}
	if _, err := p.OpenFile("/f", 1).ReadAt(context.Background(), make([]byte, 1), 0); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("read while unreachable: %v", err)
	}
	if w := tr.lines("server unreachable since"); len(w) != 1 || !strings.Contains(w[0], "level=WARN") {
		t.Fatalf("log lines about the server unreachable: %q; want one WARN", w)
	}
	if n := len(tr.lines("giving up")); n != 0 {
		t.Errorf("%d \"giving up\" lines besides the one saying unreachable", n)
	}

	g.open(g.addr)
	deadline := time.Now().Add(5 * time.Second)
	for !p.Health().Reachable() {
		if time.Now().After(deadline) {
			t.Fatal("the probe did not find the server back within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took, err := timedList(p); err != nil || took > time.Second {
		t.Fatalf("first operation after the server came back: %v after %v", err, took)
	}
	if l := tr.lines("server reachable again after"); len(l) != 1 || !strings.Contains(l[0], "level=INFO") {
		t.Fatalf("log lines about the server back: %q; want one INFO", l)
	}
}

// TestUnreachableRefusedSooner: connects refused for refusedGrace declare
// the server unreachable without waiting out a long retry_timeout.
func TestUnreachableRefusedSooner(t *testing.T) {
	p, g, _ := gatedPool(t, time.Minute, 5*time.Second)
	g.shut()
	took, err := timedList(p)
	if err == nil || took < refusedGrace || took > refusedGrace+3*time.Second {
		t.Fatalf("first operation, connects refused: %v after %v; want a failure after about %v", err, took, refusedGrace)
	}
	if took, err := timedList(p); !errors.Is(err, ErrUnreachable) || took > 50*time.Millisecond {
		t.Fatalf("second operation: %v after %v; want ErrUnreachable at once", err, took)
	}
}

// TestUnreachableSilentServer: a server that accepts and never greets is
// waited for the whole retry_timeout (no refusal shortcut), then called
// unreachable; Close stops the probe at once although its dial hangs (the
// package's TestMain fails on a goroutine left over).
func TestUnreachableSilentServer(t *testing.T) {
	p, g, _ := gatedPool(t, 2*time.Second, time.Second)
	g.mu.Lock()
	g.hang = true
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	took, err := timedList(p)
	if err == nil || took < 2*time.Second {
		t.Fatalf("first operation, server silent: %v after %v; want a failure after retry_timeout", err, took)
	}
	if _, err := timedList(p); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("second operation: %v; want ErrUnreachable", err)
	}
	time.Sleep(1200 * time.Millisecond) // the probe's first dial hangs now, for up to 1 s
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("Close took %v with the probe dialing a silent server", d)
	}
}

// TestUnreachableFirstOperationAfterReturn: with connects refused, an
// operation a second or more after the probe's last dial dials at once
// and waits for it, so the first one after the server is back succeeds,
// without waiting for the probe's backoff (here 2 s after its first
// dial).
func TestUnreachableFirstOperationAfterReturn(t *testing.T) {
	p, g, tr := gatedPool(t, time.Second, 5*time.Second)
	g.shut()
	if _, err := timedList(p); err == nil {
		t.Fatal("list with the server gone succeeded")
	}
	lastDial := func() time.Time {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.lastDial
	}
	entered := lastDial()
	deadline := time.Now().Add(5 * time.Second)
	for !lastDial().After(entered) { // the probe's first dial, refused
		if time.Now().After(deadline) {
			t.Fatal("the probe did not dial")
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.open(g.addr)
	// Well within a second of the refused dial, as a user who restarts
	// the server and at once copies a file.
	time.Sleep(time.Until(lastDial().Add(300 * time.Millisecond)))
	took, err := timedList(p)
	if err != nil || took > probeAsk {
		t.Fatalf("first operation after the server came back: %v after %v", err, took)
	}
	if l := tr.lines("server reachable again"); len(l) != 1 {
		t.Fatalf("log lines about the server back: %q", l)
	}
	// Refused again: each operation waits only for the refusal of the
	// dial it hurried.
	g.shut()
	p.markUnreachable(time.Now(), "test", "/", &Error{Op: "connect", Err: syscall.ECONNREFUSED, Msg: "refused"})
	for i := 0; i < 3; i++ {
		time.Sleep(time.Until(lastDial().Add(probeRefusedEvery + 50*time.Millisecond)))
		if took, err := timedList(p); !errors.Is(err, ErrUnreachable) || took > 200*time.Millisecond {
			t.Fatalf("operation %d, connects refused: %v after %v", i, err, took)
		}
	}
}
