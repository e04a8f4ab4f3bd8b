package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exerciserSteps is how many random operations testRandomOps applies.
const exerciserSteps = 1500

// shadowFile is a file in the mount, an open handle on it, and what its
// bytes must be.
type shadowFile struct {
	history []string // the operations so far, for a failure message
	path    string
	disk    string // the directory on the server's disk
	fh      *os.File
	shadow  []byte
	// writeback: close(2) only queues the upload; the server is checked at
	// the end only, after an fsync(2) on a new handle, which waits for it,
	// so that the steps meet files whose uploads are still queued.
	writeback bool
	// emptiedOnly: opened with O_TRUNC and not written or truncated since.
	// Such a file is uploaded at the release, which the kernel sends just
	// after close(2) returns, not at the flush within it (a shell's dup2
	// and close would otherwise upload the empty file ahead of the
	// command's output): the server gets it a moment later.
	emptiedOnly bool
}

// testRandomOps applies seeded random writes, truncates, appends, reads
// and reopenings to a few files, comparing each with a local shadow after
// every step, then the server's disk, then a fresh mount.
func testRandomOps(t *testing.T, env *writeEnv) {
	mnt, disk := env.dir(t)
	rng := rand.New(rand.NewPCG(42, 43))
	files := make([]*shadowFile, 3)
	for i := range files {
		files[i] = &shadowFile{path: filepath.Join(mnt, fmt.Sprintf("f%d", i)), disk: disk, writeback: env.writeback}
		files[i].reopen(t, os.O_CREATE|os.O_TRUNC)
	}
	t.Cleanup(func() {
		if t.Failed() {
			os.WriteFile("/tmp/ex-mount.log", []byte(env.m.Log()), 0o644)
		}
	})
	for step := 0; step < exerciserSteps; step++ {
		f := files[rng.IntN(len(files))]
		op := f.randomOp(t, rng)
		f.history = append(f.history, fmt.Sprintf("%d: %s (size %d)", step, op, len(f.shadow)))
		f.check(t, step, op)
	}
	for _, f := range files {
		must(t, f.fh.Close())
		f.checkServer(t)
	}
	again := MountServer(t, env.srv)
	for i, f := range files {
		got, err := os.ReadFile(filepath.Join(again.Dir, filepath.Base(mnt), fmt.Sprintf("f%d", i)))
		if err != nil || !bytes.Equal(got, f.shadow) {
			t.Errorf("f%d after remount: %d bytes, %v; want %d", i, len(got), err, len(f.shadow))
		}
	}
}

func (f *shadowFile) reopen(t *testing.T, flags int) {
	t.Helper()
	if f.fh != nil {
		must(t, f.fh.Close())
		if !f.writeback {
			f.checkServer(t)
		}
	}
	fh, err := os.OpenFile(f.path, os.O_RDWR|flags, 0o644)
	must(t, err)
	f.fh = fh
	if flags&os.O_TRUNC != 0 {
		f.shadow = nil
		f.emptiedOnly = true
	}
}

// randomOp applies one random operation and returns its description.
func (f *shadowFile) randomOp(t *testing.T, rng *rand.Rand) string {
	t.Helper()
	size := len(f.shadow)
	switch r := rng.IntN(100); {
	case r < 45:
		off := rng.IntN(size + 4096)
		data := randomBytes(rng.Uint64(), 1+rng.IntN(64<<10))
		_, err := f.fh.WriteAt(data, int64(off))
		must(t, err)
		f.shadow = grow(f.shadow, off+len(data))
		copy(f.shadow[off:], data)
		f.emptiedOnly = false
		return fmt.Sprintf("write %d at %d", len(data), off)
	case r < 55:
		n := rng.IntN(size + 8192)
		must(t, f.fh.Truncate(int64(n)))
		f.shadow = grow(f.shadow, n)[:n]
		f.emptiedOnly = false
		return fmt.Sprintf("truncate to %d", n)
	case r < 65:
		must(t, f.fh.Close())
		if !f.writeback {
			f.checkServer(t)
		}
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND, 0)
		must(t, err)
		data := randomBytes(rng.Uint64(), rng.IntN(10000))
		_, err = fh.Write(data)
		must(t, err)
		must(t, fh.Close())
		f.fh = nil
		f.reopen(t, 0)
		f.shadow = append(f.shadow, data...)
		f.emptiedOnly = f.emptiedOnly && len(data) == 0
		return fmt.Sprintf("append %d", len(data))
	case r < 75:
		f.reopen(t, 0)
		return "close and reopen"
	case r < 78:
		f.reopen(t, os.O_TRUNC)
		return "reopen with O_TRUNC"
	default:
		off := rng.IntN(size + 1)
		buf := make([]byte, rng.IntN(100<<10))
		n, err := f.fh.ReadAt(buf, int64(off))
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if want := f.shadow[off:min(off+len(buf), size)]; !bytes.Equal(buf[:n], want) {
			t.Fatalf("read %d at %d: got %d bytes, differing from the shadow's %d", len(buf), off, n, len(want))
		}
		return fmt.Sprintf("read %d at %d", len(buf), off)
	}
}

// checkServer compares the server's copy with the shadow: when close(2)
// has returned, the server has the file.
func (f *shadowFile) checkServer(t *testing.T) {
	t.Helper()
	if f.writeback {
		fh, err := os.Open(f.path)
		must(t, err)
		must(t, fh.Sync())
		must(t, fh.Close())
	}
	got, err := os.ReadFile(filepath.Join(f.disk, filepath.Base(f.path)))
	for deadline := time.Now().Add(5 * time.Second); f.emptiedOnly && !bytes.Equal(got, f.shadow) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		got, err = os.ReadFile(filepath.Join(f.disk, filepath.Base(f.path)))
	}
	if err != nil || !bytes.Equal(got, f.shadow) {
		t.Fatalf("server copy of %s after close: %d bytes, %v; want %d (first difference at %d); its operations:\n%s",
			filepath.Base(f.path), len(got), err, len(f.shadow), firstDiff(got, f.shadow), strings.Join(f.history, "\n"))
	}
}

func grow(b []byte, n int) []byte {
	if n > len(b) {
		b = append(b, make([]byte, n-len(b))...)
	}
	return b
}

// check compares the whole file, through the mount, with the shadow.
func (f *shadowFile) check(t *testing.T, step int, op string) {
	t.Helper()
	fi, err := f.fh.Stat()
	must(t, err)
	got := make([]byte, len(f.shadow)+1)
	n, err := f.fh.ReadAt(got, 0)
	if err != nil && err != io.EOF {
		t.Fatalf("step %d (%s): read back: %v", step, op, err)
	}
	if fi.Size() != int64(len(f.shadow)) || !bytes.Equal(got[:n], f.shadow) {
		disk, _ := os.ReadFile(filepath.Join(f.disk, filepath.Base(f.path)))
		t.Logf("the server's copy equals the shadow: %v; the mount's read equals the server's copy: %v", bytes.Equal(disk, f.shadow), bytes.Equal(disk, got[:n]))
		t.Fatalf("step %d (%s) on %s: size %d, %d bytes read, want %d (first difference at %d); its operations:\n%s",
			step, op, filepath.Base(f.path), fi.Size(), n, len(f.shadow), firstDiff(got[:n], f.shadow),
			strings.Join(f.history, "\n"))
	}
}
