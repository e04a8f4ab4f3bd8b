package cache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

	mu   sync.RWMutex
	mem  []byte   // guarded by mu; the content while not spilled
	f    *os.File // guarded by mu; the spill file, once spilled
	size int64    // guarded by mu
}

// NewBuffer returns an empty buffer that spills to a file under dir once it
// holds more than memLimit bytes.
func NewBuffer(dir string, memLimit int) *Buffer {
	return &Buffer{dir: dir, limit: memLimit}
}

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
	f, err := os.CreateTemp(b.dir, "write-*")
	if err != nil {
		return fmt.Errorf("cache dir: %w", err)
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

// Keep saves the content in a file under the cache directory whose name
// says what it is, closes the buffer and returns the file's path: the copy
// a failed upload leaves for the user.
func (b *Buffer) Keep(remotePath string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	dir := filepath.Join(b.dir, "unsaved")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := time.Now().UTC().Format("20060102T150405") + "-" + strings.ReplaceAll(strings.Trim(remotePath, "/"), "/", "%")
	dst := filepath.Join(dir, name)
	if b.f != nil {
		b.f.Close()
		err := os.Rename(b.f.Name(), dst)
		b.f = nil
		return dst, err
	}
	err := os.WriteFile(dst, b.mem, 0o600)
	b.mem = nil
	return dst, err
}
