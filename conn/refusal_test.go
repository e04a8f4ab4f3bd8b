package conn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// rule is what refusingProxy answers instead of the server to the n-th
// (from 1) command of a verb: a reply, and whether to hang up after it.
// An empty reply passes the command on.
type rule func(n int) (reply string, hangUp bool)

// refusingProxy stands in front of the in-process server on the control
// connection and answers some commands itself, as a server that lacks or
// refuses them would. Data connections go straight to the server (EPSV
// replies name only a port, which the client dials on the control
// connection's host).
type refusingProxy struct {
	upstream string
	rules    map[string]rule

	mu    sync.Mutex
	seen  map[string]int // guarded by mu; commands of each verb so far
	conns []net.Conn     // guarded by mu
}

func startRefusingProxy(t *testing.T, upstream string, rules map[string]rule) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rp := &refusingProxy{upstream: upstream, rules: rules, seen: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go rp.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		rp.mu.Lock()
		for _, c := range rp.conns {
			c.Close()
		}
		rp.mu.Unlock()
	})
	return ln.Addr()
}

func (rp *refusingProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", rp.upstream)
	if err != nil {
		client.Close()
		return
	}
	rp.mu.Lock()
	rp.conns = append(rp.conns, client, server)
	rp.mu.Unlock()
	defer client.Close()
	defer server.Close()
	var wmu sync.Mutex // the server's replies and ours go to the client in turn
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				wmu.Lock()
				_, _ = client.Write(buf[:n])
				wmu.Unlock()
			}
			if err != nil {
				client.Close()
				return
			}
		}
	}()
	br := bufio.NewReader(client)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		verb = strings.ToUpper(verb)
		if r, ok := rp.rules[verb]; ok {
			rp.mu.Lock()
			rp.seen[verb]++
			n := rp.seen[verb]
			rp.mu.Unlock()
			if reply, hangUp := r(n); reply != "" {
				wmu.Lock()
				_, _ = client.Write([]byte(reply + "\r\n"))
				wmu.Unlock()
				if hangUp {
					return
				}
				continue
			}
		}
		if _, err := server.Write([]byte(line)); err != nil {
			return
		}
	}
}

func always(reply string) rule { return func(int) (string, bool) { return reply, false } }

// refusalPool serves a directory holding "data" (64 KiB) through a
// refusingProxy with rules, and returns a pool on it, its transcript and
// the served directory.
func refusalPool(t *testing.T, cfg Config, rules map[string]rule) (*Pool, *transcript, string, []byte) {
	t.Helper()
	root := t.TempDir()
	data := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(root, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	addr := startRefusingProxy(t, serveRoot(t, root).String(), rules)
	tr := &transcript{}
	cfg.Logger = slog.New(slog.NewTextHandler(tr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Host, cfg.User, cfg.Password = "127.0.0.1", "u", "p"
	cfg.Port = addr.(*net.TCPAddr).Port
	p, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, tr, root, data
}

// infoLines counts the log lines that say the server refuses verb.
func (tr *transcript) infoLines(verb string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return bytes.Count(tr.buf.Bytes(), []byte(`msg="the server refuses `+verb+";"))
}

func TestAppendRefusedIsLearnt(t *testing.T) {
	// proftpd's default, AllowStoreRestart off.
	p, tr, root, _ := refusalPool(t, Config{}, map[string]rule{
		"APPE": always("451 /log: Append/Restart not permitted, try again"),
	})
	if err := os.WriteFile(filepath.Join(root, "log"), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := bytes.NewReader([]byte("one\ntwo\n"))
	start := time.Now()
	for range 2 {
		_, err := p.Append(context.Background(), "/log", src, 4, 8, Attrs{})
		if !errors.Is(err, ErrNotSupported) || IsTransient(err) {
			t.Fatalf("Append = %v, want ErrNotSupported and not transient", err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("two refused appends took %v: retried as if the server were away", d)
	}
	if n := tr.count("APPE"); n != 1 {
		t.Errorf("APPE sent %d times, want 1 (the refusal is learnt)", n)
	}
	if n := tr.infoLines("APPE"); n != 1 {
		t.Errorf("%d log lines about the refusal, want 1", n)
	}
}

func TestMLSDRefusedListsWithLIST(t *testing.T) {
	// A server that offers MLST in FEAT and answers MLSD with 500.
	p, tr, _, _ := refusalPool(t, Config{}, map[string]rule{
		"MLSD": always("500 MLSD: command not understood"),
	})
	for _, dir := range []string{"/", "/sub", "/"} {
		entries, err := p.List(context.Background(), dir)
		if err != nil {
			t.Fatalf("List(%s): %v", dir, err)
		}
		if dir == "/" && len(entries) != 2 {
			t.Errorf("List(/) = %v, want data and sub", entries)
		}
	}
	if n := tr.count("MLSD"); n != 1 {
		t.Errorf("MLSD sent %d times, want 1", n)
	}
	if n := tr.infoLines("MLSD"); n != 1 {
		t.Errorf("%d log lines about the refusal, want 1", n)
	}
}

func TestDisableMLSD(t *testing.T) {
	p, tr, _, _ := refusalPool(t, Config{DisableMLSD: true}, nil)
	entries, err := p.List(context.Background(), "/")
	if err != nil || len(entries) != 2 {
		t.Fatalf("List(/) = %v, %v", entries, err)
	}
	if n := tr.count("MLSD"); n != 0 {
		t.Errorf("MLSD sent %d times with DisableMLSD", n)
	}
}

func TestRestRefusedReadsFromStart(t *testing.T) {
	p, tr, _, data := refusalPool(t, Config{}, map[string]rule{
		"REST": always("502 Command not implemented."),
	})
	for _, off := range []int{1000, 30000, 0, 5} {
		f := p.OpenFile("/data", int64(len(data)))
		buf := make([]byte, 100)
		n, err := f.ReadAt(context.Background(), buf, int64(off))
		f.Close()
		if err != nil || !bytes.Equal(buf[:n], data[off:off+100]) {
			t.Fatalf("ReadAt(%d) = %d, %v; bytes differ: %v", off, n, err, !bytes.Equal(buf[:n], data[off:off+100]))
		}
	}
	if n := tr.count("REST"); n != 1 {
		t.Errorf("REST sent %d times, want 1", n)
	}
}

func TestOOPSIsADeadSession(t *testing.T) {
	// vsftpd ends a session whose helper failed with "500 OOPS: ..." and
	// closes the connection; a new session does the command.
	p, tr, root, _ := refusalPool(t, Config{}, map[string]rule{
		"MKD": func(n int) (string, bool) {
			if n == 1 {
				return "500 OOPS: priv_sock_get_cmd", true
			}
			return "", false
		},
		"RMD": func(n int) (string, bool) {
			if n == 1 {
				// any reply, then the server hangs up
				return "550 Remove directory operation failed.", true
			}
			return "", false
		},
	})
	if err := p.MakeDir(context.Background(), "/new"); err != nil {
		t.Fatalf("MakeDir: %v", err)
	}
	if st, err := os.Stat(filepath.Join(root, "new")); err != nil || !st.IsDir() {
		t.Fatalf("the directory is not there: %v", err)
	}
	if err := p.RemoveDir(context.Background(), "/new"); err != nil {
		t.Fatalf("RemoveDir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "new")); !os.IsNotExist(err) {
		t.Fatalf("the directory is still there: %v", err)
	}
	if n := tr.count("MKD"); n != 2 {
		t.Errorf("MKD sent %d times, want 2", n)
	}
}

// TestLongPaths works in a tree deeper than maxArg allows to send whole:
// every command line stays short (pyftpdlib refuses one over 2,048
// bytes), the long paths sent relative to their parent.
func TestLongPaths(t *testing.T) {
	p, tr, root, _ := refusalPool(t, Config{}, nil)
	ctx := context.Background()
	dir := ""
	for i := range 6 {
		dir += "/" + strings.Repeat(string(rune('a'+i)), 200)
		if err := p.MakeDir(ctx, dir); err != nil {
			t.Fatalf("MakeDir(%d bytes): %v", len(dir), err)
		}
	}
	data := []byte("deep\n")
	if _, err := p.Store(ctx, dir+"/f", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
		t.Fatalf("Store: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), "f")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("on disk: %q, %v", got, err)
	}
	if _, err := p.Append(ctx, dir+"/f", bytes.NewReader([]byte("deep\nmore\n")), 5, 10, Attrs{}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	entries, err := p.List(ctx, dir)
	if err != nil || len(entries) != 1 || entries[0].Name != "f" || entries[0].Size != 10 {
		t.Fatalf("List = %v, %v", entries, err)
	}
	f := p.OpenFile(dir+"/f", 10)
	buf := make([]byte, 5)
	if n, err := f.ReadAt(ctx, buf, 5); err != nil || string(buf[:n]) != "more\n" {
		t.Errorf("ReadAt(5) = %q, %v", buf[:n], err)
	}
	f.Close()
	if n, err := p.Size(ctx, dir+"/f"); err != nil || n != 10 {
		t.Errorf("Size = %d, %v", n, err)
	}
	if err := p.Rename(ctx, dir+"/f", dir+"/g"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if err := p.Rename(ctx, dir+"/g", "/g"); err != nil {
		t.Fatalf("Rename out of the deep tree: %v", err)
	}
	if err := p.Rename(ctx, "/g", dir+"/h"); err != nil {
		t.Fatalf("Rename into the deep tree: %v", err)
	}
	if err := p.Delete(ctx, dir+"/h"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := p.RemoveDir(ctx, dir); err != nil {
		t.Fatalf("RemoveDir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir))); !os.IsNotExist(err) {
		t.Errorf("the deepest directory is still there: %v", err)
	}
	tr.mu.Lock()
	log := tr.buf.String()
	tr.mu.Unlock()
	for _, m := range regexp.MustCompile(`cmd="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(log, -1) {
		if len(m[1]) > 510 { // far below pyftpdlib's 2,048

			t.Errorf("a command of %d bytes sent: %.60s...", len(m[1]), m[1])
		}
	}
}

// TestLibraryCommandsRefused covers the commands jlaffaye/ftp sends on its
// own: a refused OPTS UTF8 ON does not fail the login, a refused EPSV
// falls back to PASV, and sessions dialed after the refusal send neither.
func TestLibraryCommandsRefused(t *testing.T) {
	p, tr, _, data := refusalPool(t, Config{Connections: 4}, map[string]rule{
		"OPTS": always("500 OPTS: command not understood"),
		"EPSV": always("500 EPSV: command not understood"),
	})
	ctx := context.Background()
	// A first read on the session Open dialed meets the EPSV refusal;
	// then four readers at once need four sessions, three dialed after.
	f := p.OpenFile("/data", int64(len(data)))
	if _, err := f.ReadAt(ctx, make([]byte, 10), 0); err != nil {
		t.Fatalf("first read: %v", err)
	}
	f.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := p.OpenFile("/data", int64(len(data)))
			defer f.Close()
			buf := make([]byte, 1000)
			n, err := f.ReadAt(ctx, buf, int64(i*1000))
			if err == nil && !bytes.Equal(buf[:n], data[i*1000:i*1000+1000]) {
				err = errors.New("bytes differ")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	if n := tr.count("USER"); n < 3 {
		t.Errorf("only %d sessions dialed; the test needs sessions dialed after the refusals", n)
	}
	if n := tr.count("OPTS"); n != 1 {
		t.Errorf("OPTS sent %d times, want 1", n)
	}
	if n := tr.count("EPSV"); n != 1 {
		t.Errorf("EPSV sent %d times, want 1", n)
	}
	for _, verb := range []string{"OPTS UTF8", "EPSV"} {
		if n := tr.infoLines(verb); n != 1 {
			t.Errorf("%d log lines about the refused %s, want 1", n, verb)
		}
	}
}
