package fs

import (
	"context"
	"errors"
	iofs "io/fs"
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
//
// cmu is held for as long as the content is filled or uploaded, retries
// included. What lookups, listings and getattr show is therefore copied out
// of the content, under cmu, into local (see publish), which the node's
// short mutex guards: they never wait for a transfer.
type fileNode struct {
	node

	cmu      sync.Mutex
	content  *content // guarded by cmu; nil while the server's copy is all there is
	handles  int      // guarded by cmu; open handles
	unlinked bool     // guarded by cmu; removed while open: nothing to upload

	local localView // guarded by node.mu; published from the fields above
}

// localView is what a fileNode shows of its content: the size and time of
// the bytes written here, until the server's listing holds them.
type localView struct {
	has      bool // the node holds a content
	size     int64
	changed  bool      // written and not yet uploaded (or never uploaded): mtime is the content's
	created  bool      // made here and not yet on the server: no listing names it
	mtime    time.Time // of the last write
	unlinked bool
}

// publish copies the content's size and time into local. Called with cmu
// held, after every change of content, handles' writes or unlinked.
func (n *fileNode) publish() {
	v := localView{unlinked: n.unlinked}
	if c := n.content; c != nil {
		v.has, v.size, v.changed, v.mtime, v.created = true, c.size(), c.dirty || !c.onServer, c.mtime, !c.onServer
	}
	n.mu.Lock()
	n.local = v
	n.mu.Unlock()
}

// setContent gives the node c (nil: none), for the shutdown's list of files
// being written too. Called with cmu held.
func (n *fileNode) setContent(c *content) {
	n.content = c
	n.fs.track(n, c != nil)
	n.publish()
}

const writeFlags = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_TRUNC | syscall.O_APPEND

// Open returns a handle. Reading handles stream from the server on a
// connection of their own; writing ones share the node's content.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&writeFlags != 0 && n.fs.opts.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	p := n.remotePath()
	if flags&syscall.O_TRUNC == 0 {
		if errno := n.revalidate(ctx); errno != 0 {
			return nil, 0, errno
		}
	}
	h := &fileHandle{n: n, opened: n.getEntry()}
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
		n.publish()
	}
	n.handles++
	return h, 0, 0
}

// revalidate asks the server for the file's size and time (a listing of its
// directory, shared with other callers) when what the node holds is older
// than revalidateAfter and nothing of it is local (being written, or
// journaled in writeback mode): close-to-open, so that a file changed on
// the server reads as it is now. Where it changed, the kernel's attributes
// are invalidated: it would otherwise end reads at the old size. A file
// gone from the server is ENOENT. A listing that fails (the server
// unreachable) leaves the open to what is known: a read that needs the
// server fails on its own, one served locally does not.
func (n *fileNode) revalidate(ctx context.Context) syscall.Errno {
	n.mu.Lock()
	old, at, local := n.entry, n.entryAt, n.local.has
	n.mu.Unlock()
	after := n.fs.opts.RevalidateAfter
	p := n.remotePath()
	if local || n.fs.now().Sub(at) < after || n.fs.wb.pendingAt(p) {
		return 0
	}
	l, err := n.fs.listingSince(ctx, cache.Parent(p), n.fs.now().Add(-after))
	if errors.Is(err, iofs.ErrNotExist) {
		return syscall.ENOENT
	}
	if err != nil {
		n.fs.log.Debug("open: could not revalidate; going by what is known", "path", p, "err", err)
		return 0
	}
	e, ok := l.Get(baseName(p))
	if !ok || e.Type == conn.TypeDir {
		n.forgetDentry()
		return syscall.ENOENT
	}
	n.setEntryAt(e, l.Asked())
	if e.Size != old.Size || !e.ModTime.Equal(old.ModTime) {
		// Attributes only (offset -1): no page is locked for this, and
		// the open drops the cached pages anyway (no FOPEN_KEEP_CACHE).
		n.NotifyContent(-1, 0)
	}
	return 0
}

// forgetDentry tells the kernel to drop its entry for this file, which the
// server no longer has: stat(2) would otherwise answer from the kernel's
// cache for cache_timeout after open(2) said ENOENT (`test -e f && cat f`
// failed). From the background: the kernel may hold the parent's lock for
// the request that found out.
func (n *fileNode) forgetDentry() {
	name, parent := n.Parent()
	if parent == nil {
		return
	}
	n.fs.bg.start(func(context.Context) { _ = parent.NotifyEntry(name) })
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
		n.setContent(c)
		return nil
	}
	c, err := newContent(n.fs.opts.CacheDir, n.remotePath(), n.getEntry().Size, true)
	if err != nil {
		return err
	}
	n.setContent(c)
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
	n.setContent(nil)
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
	if c := n.content; c.failed != nil && !conn.IsTransient(c.failed) {
		// The server answered this content for good (a full disk, an
		// append that landed on another file), or its writer was killed
		// during the upload: the close of another handle on it gets the
		// same answer, not the bytes sent again, which after an APPE
		// would add them twice.
		return c.failed
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
	sendA := withShownTime(a, n.content.mtime)
	uctx, stop := killable(ctx)
	applied, sent, err := n.content.upload(uctx, n.fs.remote, p, n.fs.log, sendA)
	if err != nil && wasKilled(uctx) {
		err = errKilled
	}
	stop()
	if err != nil {
		n.content.failed = err
		return err
	}
	e := n.getEntry()
	e.Type, e.Size = conn.TypeFile, n.content.size()
	switch {
	case !sent:
		// The server's file is as it was: what it lists stands.
	case applied.Time:
		e.ModTime, e.HasTime = serverTime(sendA.ModTime), true
	default:
		// The server keeps a time of its own clock, shown from its
		// next listing on.
		e.ModTime, e.HasTime = n.content.mtime, true
	}
	n.setEntry(e)
	n.publish()
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

// release drops a handle; the last one frees the content. Changes made
// after the last close get their upload here; if that fails, or the upload
// at close failed already (its retries spent), the bytes are kept in the
// cache directory and the log says where.
func (n *fileNode) release() {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	n.handles--
	if n.handles > 0 || n.content == nil {
		return
	}
	if c := n.content; c.dirty && !n.unlinked && c.failed == nil {
		if err := n.flush(context.Background()); err != nil {
			n.fs.log.Warn("upload at release failed", "path", n.remotePath(), "err", err)
		}
	}
	c := n.content
	n.setContent(nil)
	c.stopStream()
	if c.dirty && !n.unlinked {
		p := n.remotePath()
		msg := "upload failed; the data is kept locally"
		if errors.Is(c.failed, errKilled) {
			msg = "the writer was killed while its file was uploaded; the data is kept locally"
		}
		if kept, err := c.buf.Keep(p); err == nil {
			n.fs.log.Error(msg, "path", p, "copy", kept)
		} else {
			n.fs.log.Error("upload failed and the local copy could not be kept", "path", p, "err", err)
		}
		n.forgetShown()
		return
	}
	_ = c.buf.Close()
}

// forgetShown is for a file whose change did not reach the server: what
// the node and the kernel show (the size and time of the change) is
// dropped, and the next look at the file asks the server, which has its
// previous version, or for a file made here, none. Called with cmu held,
// after the content is dropped.
func (n *fileNode) forgetShown() {
	p := n.remotePath()
	n.fs.meta.Invalidate(p)
	n.mu.Lock()
	n.entryAt = time.Time{}
	n.mu.Unlock()
	// Not from within this request: the kernel may hold the inode's lock
	// for it (release, setattr).
	n.fs.bg.start(func(context.Context) { n.NotifyContent(-1, 0) })
}

// currentEntry is the node's entry with the content's size and time while
// the file is open for writing.
func (n *fileNode) currentEntry() conn.Entry {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.entry
	if v := n.local; v.has {
		e.Size = v.size
		if v.changed {
			e.ModTime, e.HasTime = v.mtime, true
		}
	}
	return e
}

// Getattr reports the content's size while the file is open for writing,
// and the last known attributes of a file removed while open. It never
// waits for cmu: an upload of this file or any other does not hold it up.
func (n *fileNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.mu.Lock()
	v := n.local
	n.mu.Unlock()
	if !v.has && !v.unlinked {
		return n.node.Getattr(ctx, f, out)
	}
	// Being written, or removed while open: this node knows best.
	n.fs.fillAttr(n.remotePath(), n.currentEntry(), &out.Attr)
	if v.unlinked {
		out.Nlink = 0
	}
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
