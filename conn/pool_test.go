package conn

import (
	"bytes"
	"context"
	"errors"
	iofs "io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/internal/testserver"
)

// transcript collects the debug log of a pool, to count commands.
type transcript struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (tr *transcript) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.Write(p)
}

func (tr *transcript) count(verb string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(regexp.MustCompile(`cmd="?`+verb).FindAllIndex(tr.buf.Bytes(), -1))
}

// testPool serves a temporary directory holding a 4 MiB file "data" and
// returns a pool logged in to it, its transcript and the file's bytes.
func testPool(t testing.TB, connections int) (*Pool, *transcript, []byte, string) {
	t.Helper()
	root := t.TempDir()
	data := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(root, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := serveRoot(t, root)
	tr := &transcript{}
	log := slog.New(slog.NewTextHandler(tr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := Open(context.Background(), Config{
		Host: "127.0.0.1", Port: addr.(*net.TCPAddr).Port, User: "u", Password: "p",
		Connections: connections, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, tr, data, root
}

func readAll(t *testing.T, f FileReader, size, chunk int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, chunk)
	for off := 0; off < size; {
		n, err := f.ReadAt(context.Background(), buf, int64(off))
		if err != nil {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
		out = append(out, buf[:n]...)
		off += n
	}
	return out
}

func TestFileSequentialReadIsOneTransfer(t *testing.T) {
	p, tr, data, _ := testPool(t, 2)
	f := p.OpenFile("/data", -1)
	defer f.Close()
	if got := readAll(t, f, len(data), 128<<10); !bytes.Equal(got, data) {
		t.Fatal("contents differ")
	}
	if n := tr.count("RETR"); n != 1 {
		t.Errorf("%d RETR commands for one sequential read, want 1", n)
	}
}

func TestFileSeeks(t *testing.T) {
	p, tr, data, _ := testPool(t, 2)
	f := p.OpenFile("/data", -1)
	defer f.Close()
	buf := make([]byte, 1000)
	for _, c := range []struct {
		off   int64
		retrs int
	}{
		{0, 1},
		{1000 + 100<<10, 1}, // a short skip forward reads through
		{3 << 20, 2},        // a long one restarts with REST
		{10, 3},             // so does going back
	} {
		n, err := f.ReadAt(context.Background(), buf, c.off)
		if err != nil || !bytes.Equal(buf[:n], data[c.off:c.off+int64(n)]) || n != len(buf) {
			t.Fatalf("ReadAt(%d) = %d, %v or wrong bytes", c.off, n, err)
		}
		if got := tr.count("RETR"); got != c.retrs {
			t.Errorf("after ReadAt(%d): %d RETR, want %d", c.off, got, c.retrs)
		}
	}
	if tr.count("REST") != 2 {
		t.Errorf("REST sent %d times, want 2", tr.count("REST"))
	}
}

func TestFileEndOfFile(t *testing.T) {
	p, _, data, _ := testPool(t, 1)
	f := p.OpenFile("/data", -1)
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := f.ReadAt(context.Background(), buf, int64(len(data)-100))
	if err != nil || n != 100 {
		t.Fatalf("read at the end = %d, %v; want 100, nil", n, err)
	}
	// The stream ended, so its session is back: a listing must not wait.
	if _, err := p.List(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
}

// TestFileReclaimed checks that an idle stream gives its session up when
// the pool runs dry, and that the file resumes where it was.
func TestFileReclaimed(t *testing.T) {
	p, _, data, _ := testPool(t, 1)
	f := p.OpenFile("/data", -1)
	defer f.Close()
	buf := make([]byte, 64<<10)
	if _, err := f.ReadAt(context.Background(), buf, 0); err != nil {
		t.Fatal(err)
	}
	ents, err := p.List(context.Background(), "/")
	if err != nil || len(ents) != 1 || ents[0].Name != "data" || ents[0].Size != int64(len(data)) {
		t.Fatalf("List = %+v, %v", ents, err)
	}
	n, err := f.ReadAt(context.Background(), buf, 64<<10)
	if err != nil || !bytes.Equal(buf[:n], data[64<<10:128<<10]) {
		t.Fatalf("read after reclaim: %d, %v", n, err)
	}
}

func TestPoolErrors(t *testing.T) {
	p, _, _, _ := testPool(t, 2)
	ctx := context.Background()
	if _, err := p.List(ctx, "/missing"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("List of a missing dir: %v, want ErrNotExist", err)
	}
	if err := p.CheckDir(ctx, "/data"); err == nil {
		t.Error("CheckDir of a file succeeded")
	}
	f := p.OpenFile("/missing", -1)
	if _, err := f.ReadAt(ctx, make([]byte, 10), 0); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("read of a missing file: %v, want ErrNotExist", err)
	}
	if wd, err := p.Getwd(ctx); err != nil || wd != "/" {
		t.Errorf("Getwd = %q, %v", wd, err)
	}
	_, err := Open(ctx, Config{Host: "127.0.0.1", Port: p.cfg.Port, User: "u", Password: "wrong"})
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != 530 || !errors.Is(err, iofs.ErrPermission) {
		t.Errorf("bad login: %v, want a 530 *Error", err)
	}
}

func TestPoolConcurrentReads(t *testing.T) {
	p, _, data, _ := testPool(t, 3)
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := p.OpenFile("/data", -1)
			defer f.Close()
			if got := readAll(t, f, len(data), 200<<10); !bytes.Equal(got, data) {
				t.Error("contents differ")
			}
		}()
	}
	wg.Wait()
}

// BenchmarkFileSequentialRead reads a 4 MiB file front to back in 1 MiB
// reads, as the kernel asks after readahead: the read loop and the
// stream read-ahead, against the in-process server on loopback.
func BenchmarkFileSequentialRead(b *testing.B) {
	p, _, data, _ := testPool(b, 2)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := p.OpenFile("/data", -1)
		for off := 0; off < len(data); {
			n, err := f.ReadAt(context.Background(), buf, int64(off))
			if err != nil {
				b.Fatal(err)
			}
			off += n
		}
		f.Close()
	}
}

// TestStoreSetsAttributes uploads with a mode and a time: they travel with
// the size check, and reach the file on disk.
func TestStoreSetsAttributes(t *testing.T) {
	p, tr, _, root := testPool(t, 2)
	when := time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)
	done, err := p.Store(context.Background(), "/attrs", bytes.NewReader([]byte("abc")), 3,
		Attrs{Mode: 0o600, HasMode: true, ModTime: when, HasTime: true})
	if err != nil || !done.Mode || !done.Time {
		t.Fatalf("Store = %+v, %v", done, err)
	}
	fi, err := os.Stat(filepath.Join(root, "attrs"))
	if err != nil || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(when) || fi.Size() != 3 {
		t.Errorf("on disk: %v, %v", fi, err)
	}
	for _, verb := range []string{"SIZE", "SITE CHMOD", "MFMT"} {
		if tr.count(verb) != 1 {
			t.Errorf("%s sent %d times, want 1", verb, tr.count(verb))
		}
	}
}

// serveRoot starts the in-process server on 127.0.0.1, serving root to the
// login u/p until the test ends, and returns its address.
func serveRoot(t testing.TB, root string) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.Start(ln, testserver.Config{Root: root, User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return ln.Addr()
}
