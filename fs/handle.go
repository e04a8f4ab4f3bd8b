package fs

import (
	"context"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/conn"
)

// fileHandle is an open file. Without a content on its node, it reads
// through its own remote reader, which keeps a stream open.
type fileHandle struct {
	n *fileNode

	mu    sync.Mutex      // serialises the handle's reads
	r     conn.FileReader // guarded by mu; opened on the first streaming read
	rpath string          // guarded by mu; the path r reads
	// data is the whole file, read ahead, when it was at open; it is
	// never changed, and a content on the node takes precedence.
	data []byte
	// queued is the file's queued data in writeback mode, while its
	// upload is pending; guarded by mu.
	queued *os.File
	// opened is the file's entry when it was opened (revalidated as
	// revalidate_timeout says): the version whose bytes the handle reads
	// from the content cache and writes through to it. Never changed.
	opened conn.Entry
}

// Read reads from the node's content if it has one, else from the server.
func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.n
	n.cmu.Lock()
	if c := n.content; c != nil {
		got, err := c.readAt(ctx, n.fs.remote, n.remotePath(), dest, off)
		n.cmu.Unlock()
		if err != nil && !atEOF(err) {
			return nil, n.fs.errno("read", n.remotePath(), err)
		}
		return fuse.ReadResultData(dest[:got]), 0
	}
	n.cmu.Unlock()
	if h.data != nil {
		if off >= int64(len(h.data)) {
			return fuse.ReadResultData(nil), 0
		}
		return fuse.ReadResultData(h.data[off:min(off+int64(len(dest)), int64(len(h.data)))]), 0
	}
	p := n.remotePath()
	if h.r == nil && h.queued == nil {
		h.queued, _ = n.fs.wb.openData(p)
	}
	if h.queued != nil {
		got, err := h.queued.ReadAt(dest, off)
		if err != nil && !atEOF(err) {
			return nil, n.fs.errno("read", p, err)
		}
		return fuse.ReadResultData(dest[:got]), 0
	}
	v, cached := n.fs.cacheVersion(h.opened)
	if cached {
		if got, ok := n.fs.cc.ReadAt(p, v, dest, off); ok {
			return fuse.ReadResultData(dest[:got]), 0
		}
	}
	if h.r == nil || h.rpath != p { // first read, or the file was renamed
		if h.r != nil {
			_ = h.r.Close()
		}
		h.r, h.rpath = n.fs.remote.OpenFile(p, n.getEntry().Size), p
	}
	got, err := h.r.ReadAt(ctx, dest, off)
	if err != nil && got == 0 {
		if atEOF(err) {
			return fuse.ReadResultData(nil), 0
		}
		return nil, n.fs.errno("read", p, err)
	}
	// Through to the content cache, unless ftpfs changed the file since
	// the open: these bytes may be of either version.
	if cached && sameVersion(n.getEntry(), h.opened) {
		n.fs.cacheStore(p, h.opened, dest[:got], off)
	}
	return fuse.ReadResultData(dest[:got]), 0
}

// sameVersion reports whether a and b list the same size and time.
func sameVersion(a, b conn.Entry) bool {
	return a.Size == b.Size && a.HasTime == b.HasTime && a.ModTime.Equal(b.ModTime)
}

// atEOF reports the end of a file: a bare io.EOF. A failure that wraps
// io.EOF (a connection the server closed while ftpfs dialled or read) is
// an error, never the end of the file, which would silently truncate it.
func atEOF(err error) bool { return err == io.EOF }

// Write writes into the node's content; the server sees it at close.
func (h *fileHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n := h.n
	data, errno := n.fs.writeLimit(data, off)
	if errno != 0 {
		return 0, errno
	}
	n.cmu.Lock()
	defer n.cmu.Unlock()
	if n.fs.closing.Load() {
		return 0, n.fs.errno("write", n.remotePath(), errShuttingDown)
	}
	if err := n.ensureContent(); err != nil {
		return 0, n.fs.errno("write", n.remotePath(), err)
	}
	if off == 0 && n.mayStream() {
		n.content.up = startUpstream(n.fs.bg, n.fs.remote, n.remotePath(), n.content.buf)
	}
	err := n.content.write(data, off)
	n.publish()
	if err != nil {
		return 0, n.fs.errno("write", n.remotePath(), err)
	}
	return uint32(len(data)), 0
}

// Flush uploads at close(2): the kernel ignores errors from release, so
// this is where a failed upload reaches the application, as EIO.
//
// A file emptied by O_TRUNC and not written to since is not uploaded here
// but at the release: a close of a duplicate descriptor flushes too, and
// would replace the server's file with an empty one while the writer has
// yet to write.
func (h *fileHandle) Flush(ctx context.Context) syscall.Errno {
	n := h.n
	n.cmu.Lock()
	defer n.cmu.Unlock()
	if n.content != nil && n.content.emptied {
		return 0
	}
	return n.flushErrno(ctx)
}

// flushErrno uploads (or journals) the content now. Called with cmu held.
func (n *fileNode) flushErrno(ctx context.Context) syscall.Errno {
	if err := n.flush(ctx); err != nil {
		return n.fs.uploadErrno(n.remotePath(), err)
	}
	return 0
}

// Fsync uploads, so that fsync(2) returns once the server has the file;
// in writeback mode it waits for the queued upload.
func (h *fileHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	h.n.cmu.Lock()
	errno := h.n.flushErrno(ctx)
	h.n.cmu.Unlock()
	if errno != 0 {
		return errno
	}
	return h.n.waitUpload(ctx)
}

// waitUpload waits for the file's queued upload in writeback mode, and
// returns its failure as an errno.
func (n *fileNode) waitUpload(ctx context.Context) syscall.Errno {
	p := n.remotePath()
	if err := n.fs.wb.wait(ctx, p); err != nil {
		return n.fs.uploadErrno(p, err)
	}
	return 0
}

// Release closes the handle's stream and drops its hold on the content.
func (h *fileHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if h.r != nil {
		_ = h.r.Close()
		h.r = nil
	}
	if h.queued != nil {
		_ = h.queued.Close()
		h.queued = nil
	}
	h.mu.Unlock()
	h.n.release()
	return 0
}
