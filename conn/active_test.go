package conn

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/internal/testserver"
)

// text returns the transcript so far.
func (tr *transcript) text() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.String()
}

// logTo returns a debug logger writing into tr.
func logTo(tr *transcript) *slog.Logger {
	return slog.New(slog.NewTextHandler(tr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// roundTrip stores, lists and reads back a file through p, and checks the
// server's disk under root.
func roundTrip(t *testing.T, p *Pool, root string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := bytes.Repeat([]byte("active "), 50000)
	if _, err := p.Store(ctx, "/f", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
		t.Fatalf("store: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "f")); !bytes.Equal(got, data) {
		t.Fatalf("the server has %d bytes, want %d", len(got), len(data))
	}
	if _, err := p.Store(ctx, "/empty", bytes.NewReader(nil), 0, Attrs{}); err != nil {
		t.Fatalf("empty store: %v", err)
	}
	ents, err := p.List(ctx, "/")
	if err != nil || len(ents) != 2 {
		t.Fatalf("list: %v, %v", ents, err)
	}
	f := p.OpenFile("/f", int64(len(data)))
	defer f.Close()
	buf := make([]byte, len(data))
	if n, err := f.ReadAt(ctx, buf, 0); err != nil || !bytes.Equal(buf[:n], data) {
		t.Fatalf("read: %d bytes, %v", n, err)
	}
}

// TestActiveRoundTrip reads, lists and writes in active mode against the
// in-process server, in clear and over FTPS (explicit and implicit), and
// checks that no passive command reached the server.
func TestActiveRoundTrip(t *testing.T) {
	for _, mode := range []TLSMode{TLSOff, TLSExplicit, TLSImplicit} {
		t.Run(map[TLSMode]string{TLSOff: "clear", TLSExplicit: "explicit", TLSImplicit: "implicit"}[mode], func(t *testing.T) {
			cfg := Config{Host: "127.0.0.1", User: "u", Password: "p", Active: true, Timeout: 10 * time.Second}
			var root string
			if mode == TLSOff {
				root = t.TempDir()
				cfg.Port = plainServer(t, testserver.Config{Root: root, User: "u", Password: "p"})
			} else {
				cfg.Port, cfg.CAFile, root = tlsServer(t, mode == TLSImplicit)
				cfg.TLS = mode
			}
			tr := &transcript{}
			cfg.Logger = logTo(tr)
			p, err := Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			roundTrip(t, p, root)
			if n := tr.count("EPRT"); n < 4 {
				t.Errorf("%d EPRT commands, want one per transfer", n)
			}
			if n := tr.count("EPSV") + tr.count("PASV"); n != 0 {
				t.Errorf("%d passive commands sent in active mode", n)
			}
		})
	}
}

// plainServer starts the in-process server and returns its port.
func plainServer(t *testing.T, cfg testserver.Config) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.Start(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestActiveFallsBackToPORT: a server that refuses EPRT gets PORT, learned
// once for the whole pool and logged once.
func TestActiveFallsBackToPORT(t *testing.T) {
	f := startFake(t, map[string]string{"EPRT": "500 EPRT not understood"})
	tr := &transcript{}
	p, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: f.port(), User: "u", Password: "p",
		Active: true, Timeout: 5 * time.Second, Logger: logTo(tr)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 3 {
		ents, err := p.List(ctx, "/")
		if err != nil || len(ents) != 1 || ents[0].Name != "f" {
			t.Fatalf("list: %v, %v", ents, err)
		}
	}
	fr := p.OpenFile("/f", int64(len(fakeContent)))
	defer fr.Close()
	buf := make([]byte, 100)
	if n, err := fr.ReadAt(ctx, buf, 0); string(buf[:n]) != fakeContent {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if n := len(f.sent("EPRT")); n != 1 {
		t.Errorf("EPRT sent %d times, want once before PORT is learned", n)
	}
	if n := len(f.sent("PORT")); n != 4 {
		t.Errorf("PORT sent %d times, want 4", n)
	}
	if n := strings.Count(tr.text(), "refused EPRT"); n != 1 {
		t.Errorf("the fallback was logged %d times, want once", n)
	}
}

// TestActiveAddressRefused: ftpserverlib, like vsftpd, connects only to
// its client's own address; announcing another is refused, and the error
// says what to do.
func TestActiveAddressRefused(t *testing.T) {
	port := plainServer(t, testserver.Config{Root: t.TempDir(), User: "u", Password: "p"})
	p, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p",
		Active: true, ActiveAddr: "127.0.0.3", Timeout: 5 * time.Second, RetryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = p.List(ctx, "/")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.3") || !strings.Contains(err.Error(), "passive mode") ||
		!strings.Contains(err.Error(), "-o active=127.0.0.3") {
		t.Fatalf("list with a refused address: %v", err)
	}
}

// TestActiveUnreachable: a server that never connects back fails the
// transfer within the timeout, with an error naming passive mode; one that
// answers 425 gets the same advice.
func TestActiveUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := startFake(t, nil, func(f *fakeFTP) { f.noConnect = true })
	p, err := Open(ctx, Config{Host: "127.0.0.1", Port: f.port(), User: "u", Password: "p",
		Active: true, Timeout: time.Second, RetryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	_, err = p.List(ctx, "/")
	if err == nil || !strings.Contains(err.Error(), "did not connect") || !strings.Contains(err.Error(), "passive mode") {
		t.Fatalf("list with no connection back: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the failure took %v", d)
	}

	f425 := startFake(t, map[string]string{"LIST": "425 Failed to establish connection."})
	p2, err := Open(ctx, Config{Host: "127.0.0.1", Port: f425.port(), User: "u", Password: "p",
		Active: true, Timeout: time.Second, RetryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	before := p2.Commands()
	_, err = p2.List(ctx, "/")
	if err == nil || !strings.Contains(err.Error(), "425") || !strings.Contains(err.Error(), "passive mode") {
		t.Fatalf("list answered 425: %v", err)
	}
	// An answer, not a reason to retry: one attempt's commands only.
	if IsTransient(err) || p2.Commands()-before > 6 {
		t.Errorf("a 425 in active mode was retried: transient %v, %d commands", IsTransient(err), p2.Commands()-before)
	}
}

// TestSourceAddress binds the control and data connections to 127.0.0.2:
// the server sees the control connection from there, and ftpserverlib
// refuses a data connection from another address than the control
// connection's (passive) and connects back only to it (active).
func TestSourceAddress(t *testing.T) {
	for _, active := range []bool{false, true} {
		var mu sync.Mutex
		var seen []string
		root := t.TempDir()
		port := plainServer(t, testserver.Config{Root: root, User: "u", Password: "p", Connected: func(a net.Addr) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, a.(*net.TCPAddr).IP.String())
		}})
		p, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p",
			Active: active, SourceAddr: "127.0.0.2", Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, p, root)
		p.Close()
		mu.Lock()
		if len(seen) == 0 {
			t.Errorf("active %v: no connection seen", active)
		}
		for _, ip := range seen {
			if ip != "127.0.0.2" {
				t.Errorf("active %v: the server saw a connection from %s", active, ip)
			}
		}
		mu.Unlock()
	}
}

// TestActiveTLSResumes: over FTPS the active data connections resume the
// control connection's TLS session, as vsftpd requires.
func TestActiveTLSResumes(t *testing.T) {
	port, cafile, _ := tlsServer(t, false)
	resumed := make(chan bool, 16)
	p, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p",
		TLS: TLSExplicit, CAFile: cafile, Active: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := p.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Watch the data connection's handshake: the control connection's is
	// done.
	s.tls.VerifyConnection = func(cs tls.ConnectionState) error {
		resumed <- cs.DidResume
		return nil
	}
	var buf bytes.Buffer
	err = s.rawList("LIST", &buf)
	p.put(s, err)
	if err != nil {
		t.Fatal(err)
	}
	if !<-resumed {
		t.Error("the active data connection did not resume the TLS session")
	}
}

// TestActiveAcceptsOnlyTheServer: a connection to the data port from
// another address than the server's is dropped, and the server's taken.
func TestActiveAcceptsOnlyTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &acceptConn{ln: ln, timeout: 5 * time.Second, peer: net.ParseIP("127.0.0.2"), addr: ln.Addr().String()}
	defer a.Close()
	dial := func(from, msg string) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte(msg))
	}
	dial("127.0.0.3", "intruder")
	go dial("127.0.0.2", "server")
	buf := make([]byte, 16)
	n, err := a.Read(buf)
	if err != nil || string(buf[:n]) != "server" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// TestActiveIPv6 announces an IPv6 data port, which only EPRT can carry
// (RFC 2428 section 2, address family 2).
func TestActiveIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	root := t.TempDir()
	srv, err := testserver.Start(ln, testserver.Config{Root: root, User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	tr := &transcript{}
	p, err := Open(context.Background(), Config{Host: "::1", Port: ln.Addr().(*net.TCPAddr).Port, User: "u", Password: "p",
		Active: true, Timeout: 10 * time.Second, Logger: logTo(tr)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	roundTrip(t, p, root)
	if !strings.Contains(tr.text(), `cmd="EPRT |2|::1|`) {
		t.Errorf("no IPv6 EPRT in the transcript:\n%s", tr.text())
	}
}
