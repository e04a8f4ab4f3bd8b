package fs

import (
	"context"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// fileNode is a regular file on the server. While some handle writes to
// it, or after ftpfs created it, it holds a content that every handle on
// the file reads and writes, so that they all agree before and after the
// upload.
type fileNode struct {
	node

	cmu      sync.Mutex
	content  *content // guarded by cmu; nil while the server's copy is all there is
	handles  int      // guarded by cmu; open handles
	unlinked bool     // guarded by cmu; removed while open: nothing to upload
}

const writeFlags = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_TRUNC | syscall.O_APPEND

// Open returns a handle. Reading handles stream from the server on a
// connection of their own; writing ones share the node's content.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&writeFlags != 0 && n.fs.opts.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	p := n.remotePath()
	h := &fileHandle{n: n}
	if flags&writeFlags == 0 {
		// Outside cmu: this may wait for the file being read ahead.
		h.data = n.fs.openedForRead(ctx, p, n.getEntry())
	}
	n.cmu.Lock()
	defer n.cmu.Unlock()
	if flags&writeFlags != 0 {
		if err := n.ensureContent(); err != nil {
			return nil, 0, n.fs.errno("open", p, err)
		}
		if flags&syscall.O_TRUNC != 0 {
			if err := n.content.truncate(0); err != nil {
				return nil, 0, n.fs.errno("open", p, err)
			}
			n.content.emptied = n.content.onServer
		}
	}
	n.handles++
	return h, 0, 0
}

// ensureContent gives the node a content describing the server's file,
// or the queued one while its upload is pending, if it has none. Called
// with cmu held.
func (n *fileNode) ensureContent() error {
	if n.content != nil {
		return nil
	}
	if qf, size := n.fs.wb.openData(n.remotePath()); qf != nil {
		defer qf.Close()
		c, err := contentFrom(n.fs.opts.CacheDir, n.remotePath(), qf, size)
		if err != nil {
			return err
		}
		n.content = c
		n.fs.track(n, true)
		return nil
	}
	c, err := newContent(n.fs.opts.CacheDir, n.remotePath(), n.getEntry().Size, true)
	if err != nil {
		return err
	}
	n.content = c
	n.fs.track(n, true)
	return nil
}

// abandon is for a shutdown while the file is still open for writing:
// its writer has not closed it, so what it wrote so far must not replace
// the server's file. A running upload stream is stopped (its temporary
// file removed), the bytes are kept under the unsaved directory, and the
// log says where. It reports whether bytes were kept.
func (n *fileNode) abandon() bool {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	if n.content == nil || !n.content.dirty || n.unlinked {
		return false
	}
	p := n.remotePath()
	c := n.content
	n.content = nil
	n.fs.track(n, false)
	c.stopStream()
	size := c.size()
	if kept, err := c.buf.Keep(p); err == nil {
		n.fs.log.Warn("shutting down while a file is open for writing: the server keeps its previous version; the bytes written are kept locally",
			"path", p, "bytes", size, "copy", kept)
	} else {
		n.fs.log.Error("shutting down while a file is open for writing: the bytes written could not all be kept",
			"path", p, "bytes", size, "copy", kept, "err", err)
	}
	return true
}

// flush uploads the content if it changed, or in writeback mode queues
// it. Called with cmu held.
func (n *fileNode) flush(ctx context.Context) error {
	if n.content == nil || !n.content.dirty || n.unlinked {
		return nil
	}
	if n.fs.closing.Load() {
		return errShuttingDown
	}
	if n.fs.opts.Writeback && n.fs.wb != nil {
		return n.enqueue(ctx)
	}
	p := n.remotePath()
	// Uploads an earlier mount journaled go first.
	if err := n.fs.wb.waitRelated(ctx, p); err != nil {
		return err
	}
	a := n.uploadAttrs(p)
	applied, sent, err := n.content.upload(context.WithoutCancel(ctx), n.fs.remote, p, n.fs.log, a)
	if err != nil {
		return err
	}
	e := n.getEntry()
	e.Type, e.Size, e.ModTime, e.HasTime = conn.TypeFile, n.content.size(), n.content.mtime, true
	n.setEntry(e)
	n.fs.cacheUpdate(p, e)
	if sent && !n.fs.opts.DirectUpload {
		n.fs.dirChanged(cache.Parent(p))
	}
	if sent {
		n.fs.settlePending(p, a, applied)
	} else {
		n.fs.applyPending(ctx, p)
	}
	return nil
}

// release drops a handle; the last one frees the content. Changes still
// pending then (an upload that failed at close, or a change made after the
// last close) get one more upload, and if that fails too, the bytes are
// kept in the cache directory and the log says where.
func (n *fileNode) release() {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	n.handles--
	if n.handles > 0 || n.content == nil {
		return
	}
	if n.content.dirty && !n.unlinked {
		if err := n.flush(context.Background()); err != nil {
			n.fs.log.Warn("upload at release failed", "path", n.remotePath(), "err", err)
		}
	}
	c := n.content
	n.content = nil
	n.fs.track(n, false)
	c.stopStream()
	if c.dirty && !n.unlinked {
		p := n.remotePath()
		if kept, err := c.buf.Keep(p); err == nil {
			n.fs.log.Error("upload failed; the data is kept locally", "path", p, "copy", kept)
		} else {
			n.fs.log.Error("upload failed and the local copy could not be kept", "path", p, "err", err)
		}
		return
	}
	_ = c.buf.Close()
}

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
	return fuse.ReadResultData(dest[:got]), 0
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
		n.content.up = startUpstream(n.fs.remote, n.remotePath(), n.content.buf)
	}
	if err := n.content.write(data, off); err != nil {
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

// currentEntry is the node's entry with the content's size and time while
// the file is open for writing.
func (n *fileNode) currentEntry() conn.Entry {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	e := n.getEntry()
	if c := n.content; c != nil {
		e.Size = c.size()
		if c.dirty || !c.onServer {
			e.ModTime, e.HasTime = c.mtime, true
		}
	}
	return e
}

// Getattr reports the content's size while the file is open for writing,
// and the last known attributes of a file removed while open.
func (n *fileNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.cmu.Lock()
	c, unlinked := n.content, n.unlinked
	var size int64
	var changed bool
	var mtime time.Time
	if c != nil {
		size, changed, mtime = c.size(), c.dirty || !c.onServer, c.mtime
	}
	n.cmu.Unlock()
	if c == nil && !unlinked {
		return n.node.Getattr(ctx, f, out)
	}
	// Being written, or removed while open: this node knows best.
	e := n.getEntry()
	if c != nil {
		e.Size = size
	}
	if changed {
		e.ModTime, e.HasTime = mtime, true
	}
	if unlinked {
		n.fs.fillAttr(n.remotePath(), e, &out.Attr)
		out.Nlink = 0
		out.SetTimeout(n.fs.opts.CacheTTL)
		return 0
	}
	n.fs.fillAttr(n.remotePath(), e, &out.Attr)
	out.SetTimeout(n.fs.opts.CacheTTL)
	return 0
}

// uploadAttrs are the attributes an upload sets: those pending, else the
// mode the server's file has, which its replacement (written under a
// temporary name and renamed over it) would otherwise not keep. Called
// with cmu held.
func (n *fileNode) uploadAttrs(p string) conn.Attrs {
	a := n.fs.pendingAttrs(p)
	if a.HasMode || n.content == nil || !n.content.onServer {
		return a
	}
	if o, ok := n.fs.overrides.get(p); ok && o.hasMode {
		// Set here earlier: the server's listing may not show it.
		a.Mode, a.HasMode = o.mode, true
	} else if e := n.getEntry(); e.HasPerm {
		a.Mode, a.HasMode = uint32(e.Perm.Perm())|specialBits(e.Perm), true
	}
	// A file its owner may not write is written in place: the server, not
	// a rename over it, decides.
	a.InPlace = a.HasMode && a.Mode&0o200 == 0
	return a
}

// mayStream reports whether an upload may start alongside the writes (see
// upstream): not in writeback mode, not behind journaled operations on
// the path, not for a file written in place. Called with cmu held.
func (n *fileNode) mayStream() bool {
	p := n.remotePath()
	return !n.unlinked && !n.fs.opts.Writeback && n.content.streamable() &&
		!n.fs.wb.related(p) && !n.uploadAttrs(p).InPlace
}
