package cache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Buffer holds the content of a file being written: in memory while it is
// small, in a temporary file under a cache directory once it grows past the
// memory limit, so that copying a file of any size costs bounded memory. It
// is addressed like a file (WriteAt, ReadAt, Truncate); holes read as zeros.
// It locks internally.
type Buffer struct {
	dir   string
	limit int
	hint  string // names the spill file after the server path it holds

	mu   sync.RWMutex
	mem  []byte   // guarded by mu; the content while not spilled
	f    *os.File // guarded by mu; the spill file, once spilled
	size int64    // guarded by mu
}

// NewBuffer returns an empty buffer that spills to a file under dir once it
// holds more than memLimit bytes. remotePath, the server path it is for,
// goes into the spill file's name, so that one left by a killed process
// (see SweepOrphans) says what it held.
func NewBuffer(dir string, memLimit int, remotePath string) *Buffer {
	return &Buffer{dir: dir, limit: memLimit, hint: remotePath}
}

// spillPrefix starts the name of every spill file.
const spillPrefix = "write-"

// Size returns the length of the content.
func (b *Buffer) Size() int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.size
}

// WriteAt writes p at off, extending the content as needed.
func (b *Buffer) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	end := off + int64(len(p))
	if b.f == nil && end > int64(b.limit) {
		if err := b.spill(); err != nil {
			return 0, err
		}
	}
	if b.f != nil {
		n, err := b.f.WriteAt(p, off)
		if err != nil {
			return n, fmt.Errorf("write buffer %s: %w", b.f.Name(), err)
		}
		b.size = max(b.size, end)
		return n, nil
	}
	if end > int64(len(b.mem)) {
		b.mem = append(b.mem, make([]byte, end-int64(len(b.mem)))...)
	}
	copy(b.mem[off:], p)
	b.size = max(b.size, end)
	return len(p), nil
}

// ReadAt reads like io.ReaderAt: io.EOF when p reaches past the end.
func (b *Buffer) ReadAt(p []byte, off int64) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if off >= b.size {
		return 0, io.EOF
	}
	want := p
	if rest := b.size - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	var n int
	if b.f != nil {
		var err error
		n, err = b.f.ReadAt(want, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		clear(want[n:]) // a hole at the end of a sparse file
		n = len(want)
	} else {
		n = copy(want, b.mem[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Truncate sets the length of the content; growth reads as zeros.
func (b *Buffer) Truncate(size int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f == nil && size > int64(b.limit) {
		if err := b.spill(); err != nil {
			return err
		}
	}
	if b.f != nil {
		if err := b.f.Truncate(size); err != nil {
			return fmt.Errorf("truncate buffer: %w", err)
		}
	} else if size <= int64(len(b.mem)) {
		b.mem = b.mem[:size]
	} else {
		b.mem = append(b.mem, make([]byte, size-int64(len(b.mem)))...)
	}
	b.size = size
	return nil
}

// spill moves the content from memory to a new temporary file.
func (b *Buffer) spill() error {
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return fmt.Errorf("cache dir: %w", err)
	}
	f, err := os.CreateTemp(b.dir, spillPrefix+FlatName(b.hint, 100)+".*")
	if err != nil {
		return fmt.Errorf("cache dir: %w", err)
	}
	// Held while the buffer lives: a spill file nobody holds was left by
	// a process that died, and SweepOrphans keeps it.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("cache dir: lock %s: %w", f.Name(), err)
	}
	if _, err := f.Write(b.mem); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write buffer %s: %w", f.Name(), err)
	}
	b.f, b.mem = f, nil
	return nil
}

// Close discards the content.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mem = nil
	if b.f == nil {
		return nil
	}
	name := b.f.Name()
	err := b.f.Close()
	b.f = nil
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// Keep saves the content in a file under the cache directory's unsaved
// folder whose name says what it is, closes the buffer and returns the
// file's path: the copy a failed upload leaves for the user. Where that
// folder cannot be used, the bytes stay in the cache directory itself
// (a spill file where it is, for SweepOrphans to move later) and the
// error says why; they are never dropped while they can be written
// anywhere.
func (b *Buffer) Keep(remotePath string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f != nil {
		name := b.f.Name()
		dst, err := KeepFile(name, UnsavedDir(b.dir), remotePath)
		b.f.Close()
		b.f = nil
		if err != nil {
			return name, err
		}
		return dst, nil
	}
	var firstErr error
	for _, dir := range []string{UnsavedDir(b.dir), b.dir} {
		dst, err := writeKept(dir, remotePath, b.mem)
		if err == nil {
			b.mem = nil
			return dst, firstErr
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}

// writeKept writes data to a new file in dir named as KeepFile names it.
func writeKept(dir, remotePath string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".keep-*")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var dst string
		if dst, err = KeepFile(tmp.Name(), dir, remotePath); err == nil {
			return dst, nil
		}
	}
	os.Remove(tmp.Name())
	return "", err
}

// UnsavedDir is where, under a cache directory, the data of writes that
// could not be uploaded is kept for the user.
func UnsavedDir(cacheDir string) string { return filepath.Join(cacheDir, "unsaved") }

// KeepFile moves the file src into the directory dir (created private if
// missing) under a name that says when and for which server path it was
// kept (TIME-PATH with "/" as "%"), never over another file. It returns
// the new path; on failure src is where it was.
func KeepFile(src, dir, remotePath string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	base := time.Now().UTC().Format("20060102T150405") + "-" + FlatName(remotePath, 200)
	for i := 0; i < 1000; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s.%d", base, i)
		}
		dst := filepath.Join(dir, name)
		// A hard link fails on an existing name, where rename would
		// replace it.
		if err := os.Link(src, dst); err != nil {
			if errors.Is(err, os.ErrExist) {
				continue
			}
			return "", err
		}
		if err := os.Remove(src); err != nil {
			os.Remove(dst)
			return "", err
		}
		return dst, nil
	}
	return "", fmt.Errorf("keep %s: too many files of that name in %s", remotePath, dir)
}

// FlatName is a server path as one file name of at most max bytes: "/"
// becomes "%" (the end of a long path is kept). UnflatName undoes it, as
// well as a name can tell.
func FlatName(p string, max int) string {
	n := strings.ReplaceAll(strings.Trim(p, "/"), "/", "%")
	if n == "" {
		n = "file"
	}
	if len(n) > max {
		n = n[len(n)-max:]
	}
	return n
}

// UnflatName returns the server path a FlatName stands for.
func UnflatName(name string) string { return "/" + strings.ReplaceAll(name, "%", "/") }

// Orphan is a spill file that a killed process left, now kept.
type Orphan struct {
	Path string // where it is kept now
	Size int64
}

// SweepOrphans moves the spill files under cacheDir that no live buffer
// holds (their process was killed while files were being written) into
// the unsaved directory, and returns them: never left to fill the disk,
// never deleted.
func SweepOrphans(cacheDir string) ([]Orphan, error) {
	ents, err := os.ReadDir(cacheDir)
	if err != nil {
		return nil, err
	}
	var out []Orphan
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, spillPrefix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(cacheDir, name)
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // a live buffer's
			continue
		}
		fi, _ := f.Stat()
		hint := strings.TrimPrefix(name, spillPrefix)
		if i := strings.LastIndexByte(hint, '.'); i > 0 {
			hint = hint[:i]
		}
		dst, err := KeepFile(p, UnsavedDir(cacheDir), UnflatName(hint))
		f.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Orphan{Path: dst, Size: fi.Size()})
	}
	return out, errors.Join(errs...)
}
