package conn

import (
	"bytes"
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// parallelPool serves a file "big" of size bytes and returns a pool with
// connections sessions, tuned so that every stream counts as slow and the
// ranges are small: window bytes ahead of the reader in all.
func parallelPool(t *testing.T, connections int, size int, window int64) (*Pool, *transcript, []byte, string) {
	t.Helper()
	p, tr, _, root := testPool(t, connections)
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(root, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p.par = parallelTuning{window: window, probe: 64 << 10, below: 1e18}
	return p, tr, data, root
}

// TestParallelReadReassembles reads a file in order through ranges fetched
// at once on several sessions, and gets its bytes in order.
func TestParallelReadReassembles(t *testing.T) {
	for _, chunk := range []int{128 << 10, 1 << 20, 100_000} {
		p, tr, data, _ := parallelPool(t, 8, 12<<20, 2<<20)
		f := p.OpenFile("/big", int64(len(data)))
		if got := readAll(t, f, len(data), chunk); !bytes.Equal(got, data) {
			t.Fatalf("reads of %d: contents differ", chunk)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		// 12 MiB from 512 KiB ranges after the first stream's 4 MiB at
		// most: a dozen REST+RETR at least.
		if n := tr.count("REST"); n < 12 {
			t.Errorf("reads of %d: %d REST, want ranges fetched with REST+RETR", chunk, n)
		}
		if n := tr.count("RETR"); n != tr.count("REST")+1 {
			t.Errorf("reads of %d: %d RETR for %d REST, want one more (the first stream)", chunk, n, tr.count("REST"))
		}
	}
}

// TestParallelReadOff checks that parallel=1, a small file, or a fast
// stream each read with one transfer.
func TestParallelReadOff(t *testing.T) {
	for name, tune := range map[string]func(p *Pool){
		"parallel=1":  func(p *Pool) { p.cfg.Parallel = 1 },
		"connections": func(p *Pool) { p.cfg.Connections = 2 },
		"fast stream": func(p *Pool) { p.par.below = 1 },
		"small file":  func(p *Pool) { p.par.window = 64 << 20 },
	} {
		p, tr, data, _ := parallelPool(t, 8, 6<<20, 1<<20)
		tune(p)
		f := p.OpenFile("/big", int64(len(data)))
		if got := readAll(t, f, len(data), 128<<10); !bytes.Equal(got, data) {
			t.Fatalf("%s: contents differ", name)
		}
		f.Close()
		if n := tr.count("RETR"); n != 1 {
			t.Errorf("%s: %d RETR, want 1", name, n)
		}
	}
}

// failingRange ends a range's transfer early, as a connection cut by a
// middlebox does: a clean end of stream, or an error.
type failingRange struct {
	io.ReadCloser
	left int64
	err  error
}

func (r *failingRange) Read(b []byte) (int, error) {
	if r.left <= 0 {
		return 0, r.err
	}
	if int64(len(b)) > r.left {
		b = b[:r.left]
	}
	n, err := r.ReadCloser.Read(b)
	r.left -= int64(n)
	return n, err
}

// TestParallelRangeFails cuts ranges short, cleanly or with an error: the
// reader still gets every byte, the rest read by its own stream.
func TestParallelRangeFails(t *testing.T) {
	for cut, says := range map[error]string{io.EOF: "short of", errors.New("connection reset by peer"): "connection reset by peer"} {
		p, tr, data, _ := parallelPool(t, 8, 12<<20, 2<<20)
		var cuts atomic.Int32
		p.par.wrap = func(r io.ReadCloser, off int64) io.ReadCloser {
			if off < 6<<20 || cuts.Add(1) > 1 {
				return r
			}
			return &failingRange{ReadCloser: r, left: 100_000, err: cut}
		}
		f := p.OpenFile("/big", int64(len(data)))
		if got := readAll(t, f, len(data), 128<<10); !bytes.Equal(got, data) {
			t.Fatalf("cut by %v: contents differ", cut)
		}
		f.Close()
		if cuts.Load() == 0 {
			t.Fatalf("cut by %v: no range was cut", cut)
		}
		if n := tr.count("REST"); n < 4 {
			t.Errorf("cut by %v: %d REST", cut, n)
		}
		if !tr.has("parallel read: a range failed") || !tr.has(says) {
			t.Errorf("cut by %v: the cut range was not taken for a failure (%q)", cut, says)
		}
	}
}

// TestParallelReadFileGone removes the file while it is read: the ranges
// that follow fail, the reader's own stream too, and the application gets
// an error, never a file cut short.
func TestParallelReadFileGone(t *testing.T) {
	p, _, data, root := parallelPool(t, 8, 12<<20, 1<<20)
	f := p.OpenFile("/big", int64(len(data)))
	defer f.Close()
	buf := make([]byte, 128<<10)
	off := 0
	var err error
	for off < len(data) {
		var n int
		n, err = f.ReadAt(context.Background(), buf, int64(off))
		if err != nil {
			break
		}
		if !bytes.Equal(buf[:n], data[off:off+n]) {
			t.Fatalf("wrong bytes at %d", off)
		}
		off += n
		if off == 2<<20 {
			if err := os.Remove(filepath.Join(root, "big")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("read the whole file (%d bytes) or failed with %v; want ErrNotExist", off, err)
	}
}

// TestParallelReadClose closes files in the middle of parallel reads, and
// the pool ending under one: every fetcher ends (TestMain checks for
// leaks) and every session comes back.
func TestParallelReadClose(t *testing.T) {
	p, _, data, _ := parallelPool(t, 6, 12<<20, 2<<20)
	for _, stop := range []int{1 << 20, 5 << 20, 9 << 20} {
		f := p.OpenFile("/big", int64(len(data)))
		if got := readAll(t, f, stop, 128<<10); !bytes.Equal(got, data[:stop]) {
			t.Fatalf("contents differ")
		}
		f.Close()
		// A goroutine that has called wg.Done may still be on its way
		// out, and a spare session (Pool.warm) still logging in: both
		// end within moments, never later.
		deadline := time.Now().Add(2 * time.Second)
		for (fetchersRunning() || len(p.tokens) != 0) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if fetchersRunning() {
			t.Errorf("fetchers still run once the file read to %d was closed", stop)
		}
		if n := len(p.tokens); n != 0 {
			t.Errorf("%d sessions still taken once the file read to %d was closed", n, stop)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := p.OpenFile("/big", int64(len(data)))
			defer f.Close()
			buf := make([]byte, 128<<10)
			for off := int64(0); ; off += int64(len(buf)) {
				if _, err := f.ReadAt(context.Background(), buf, off); err != nil {
					return
				}
				if off == 3<<20 && i == 0 {
					p.Close()
				}
			}
		}()
	}
	wg.Wait()
}

// TestParallelLeavesASession checks that a parallel read never takes the
// pool's last session, which a listing may need, even with few
// connections.
func TestParallelLeavesASession(t *testing.T) {
	p, tr, data, _ := parallelPool(t, 3, 12<<20, 1<<20)
	var most atomic.Int32
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if n := int32(len(p.tokens)); n > most.Load() {
				most.Store(n)
			}
			select {
			case <-done:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	f := p.OpenFile("/big", int64(len(data)))
	got := readAll(t, f, len(data), 128<<10)
	f.Close()
	close(done)
	wg.Wait()
	if !bytes.Equal(got, data) {
		t.Fatal("contents differ")
	}
	if tr.count("REST") < 2 {
		t.Fatalf("%d REST: no parallel read", tr.count("REST"))
	}
	if n := most.Load(); n > 2 {
		t.Errorf("%d of 3 sessions taken at once, want one left", n)
	}
	if _, err := p.List(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
}

// TestParallelReadOutOfOrder reads as the kernel's concurrent reads reach
// ftpfs: in order overall, each group of four in reverse. The parallel
// read serves them from what it keeps behind and fetches ahead, and is
// not restarted.
func TestParallelReadOutOfOrder(t *testing.T) {
	p, tr, data, _ := parallelPool(t, 8, 12<<20, 2<<20)
	f := p.OpenFile("/big", int64(len(data)))
	defer f.Close()
	const chunk = 128 << 10
	buf := make([]byte, chunk)
	read := func(off int) {
		n, err := f.ReadAt(context.Background(), buf, int64(off))
		if err != nil || !bytes.Equal(buf[:n], data[off:off+n]) || n != min(chunk, len(data)-off) {
			t.Fatalf("ReadAt(%d) = %d, %v or wrong bytes", off, n, err)
		}
	}
	off := 0
	for ; off < 1<<20; off += chunk {
		read(off)
	}
	for ; off < len(data); off += 4 * chunk {
		for i := 3; i >= 0; i-- {
			read(off + i*chunk)
		}
	}
	if !tr.has("reading in parallel") || tr.has("parallel read ended") {
		t.Errorf("the parallel read did not start, or ended before the file was closed")
	}
}

// fetchersRunning reports whether a goroutine of a parallel read runs.
func fetchersRunning() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Contains(buf, []byte("parallelRead).fetch"))
}

// TestParallelReadJumps reads at offsets that jump ahead of the reader
// and back, as a program reading at random does once a parallel read has
// started: every read returns the file's bytes, none waits for ever. A
// jump ahead over ranges still being received once left their bytes held
// and their fetchers waiting for room that never came.
func TestParallelReadJumps(t *testing.T) {
	p, _, data, _ := parallelPool(t, 8, 48<<20, 16<<20)
	f := p.OpenFile("/big", int64(len(data)))
	defer f.Close()
	buf := make([]byte, 256<<10)
	read := func(off int) {
		t.Helper()
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := f.ReadAt(context.Background(), buf, int64(off))
			done <- result{n, err}
		}()
		select {
		case r := <-done:
			want := min(len(buf), len(data)-off)
			if r.err != nil || r.n != want || !bytes.Equal(buf[:r.n], data[off:off+r.n]) {
				t.Fatalf("ReadAt(%d) = %d, %v or wrong bytes", off, r.n, r.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("ReadAt(%d) still waits after 20 s", off)
		}
	}
	for off := 0; off < 1<<20; off += len(buf) {
		read(off)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 60 {
		read(rng.IntN(len(data) - 1))
	}
	for _, off := range []int{1 << 20, 3 << 20, 2 << 20, 9 << 20, 9<<20 + 300<<10, 23 << 20, 5 << 20, 40 << 20, 47 << 20} {
		read(off)
	}
}
