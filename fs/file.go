package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/conn"
)

// fileNode is a regular file on the server.
type fileNode struct {
	node
}

// Open returns a handle that reads through its own remote reader, so that
// several processes reading one file stream in parallel.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		if n.fs.opts.ReadOnly {
			return nil, 0, syscall.EROFS
		}
		return nil, 0, syscall.EACCES
	}
	p := n.remotePath()
	return &fileHandle{path: p, r: n.fs.remote.OpenFile(p), fs: n.fs}, 0, 0
}

// fileHandle is an open file.
type fileHandle struct {
	fs   *fsys
	path string

	mu sync.Mutex      // held by Read against Release
	r  conn.FileReader // guarded by mu
}

// Read fills dest from off through the handle's remote reader.
func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.r.ReadAt(ctx, dest, off)
	if err != nil && n == 0 {
		if isEOF(err) {
			return fuse.ReadResultData(nil), 0
		}
		return nil, h.fs.errno("read", h.path, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Release gives the handle's connection back to the pool.
func (h *fileHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	_ = h.r.Close()
	return 0
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
