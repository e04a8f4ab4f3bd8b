package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// Create makes a file that exists only here until its first upload, at
// close or fsync: an empty STOR now would cost a transfer per file.
// Lookups and listings show it meanwhile.
func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	if d.fs.opts.ReadOnly {
		return nil, nil, 0, syscall.EROFS
	}
	p := cache.Join(d.remotePath(), name)
	if flags&(syscall.O_TRUNC|syscall.O_EXCL) == 0 {
		// An append (`>>`) or a write in place of a name a cached listing
		// did not hold: the file may have appeared on the server since, and
		// creating it here would replace it. Ask the server.
		if ch, h, errno, found := d.openExisting(ctx, name, flags, out); found {
			return ch, h, 0, errno
		}
	}
	c, err := newContent(d.fs.opts.CacheDir, p, 0, false)
	if err != nil {
		return nil, nil, 0, d.fs.errno("create", p, err)
	}
	c.dirty = true
	fn := &fileNode{content: c, handles: 1}
	fn.fs = d.fs
	fn.entry = conn.Entry{Name: name, Type: conn.TypeFile, ModTime: c.mtime, HasTime: true}
	// The mode asked for shows at once and reaches the server with the
	// upload, in its last round trip (tar sets modes by creating the file
	// with them, and sends no chmod).
	d.fs.overrides.update(p, func(o *override) { o.mode, o.hasMode, o.pendingMode = mode&0o7777, true, true })
	d.fs.fillAttr(p, fn.entry, &out.Attr)
	out.SetEntryTimeout(d.fs.opts.CacheTTL)
	out.SetAttrTimeout(d.fs.opts.CacheTTL)
	d.fs.track(fn, true)
	fn.publish()
	d.fs.dirChanged(d.remotePath())
	ino := d.fs.inodes.number(d.Root(), joinRel(d.rel(), name), syscall.S_IFREG)
	child := d.NewInode(ctx, fn, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: ino})
	return child, &fileHandle{n: fn}, 0, 0
}

// Mkdir creates a directory (MKD) and caches it as empty.
func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if d.fs.opts.ReadOnly {
		return nil, syscall.EROFS
	}
	p := cache.Join(d.remotePath(), name)
	// After what is journaled above it (a rename of its parent).
	if err := d.fs.wb.waitRelated(ctx, p); err != nil {
		return nil, d.fs.errno("mkdir", p, err)
	}
	if err := d.fs.remote.MakeDir(ctx, p); err != nil {
		return nil, d.mkdirErrno(ctx, p, name, err)
	}
	at := d.fs.now()
	e := conn.Entry{Name: name, Type: conn.TypeDir, ModTime: at, HasTime: true}
	d.fs.cacheUpdate(p, e)
	d.fs.meta.PutListing(p, cache.NewListing[conn.Entry](nil, entryName, at))
	d.fs.dirChanged(d.remotePath())
	return d.fs.newChild(ctx, &d.Inode, d.rel(), name, e, at, out), 0
}

// mkdirErrno tells "exists" apart: servers answer 550 or 521 with words of
// their own, so ask the listing.
func (d *dirNode) mkdirErrno(ctx context.Context, p, name string, err error) syscall.Errno {
	d.fs.meta.Invalidate(p)
	if _, _, lerr := d.fs.lookup(ctx, d.remotePath(), name); lerr == nil {
		return syscall.EEXIST
	}
	return d.fs.errno("mkdir", p, err)
}

// Unlink removes a file (DELE). A file still open stays readable through
// its handles: its bytes are fetched first.
func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if d.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	p := cache.Join(d.remotePath(), name)
	had, serverHas, err := d.fs.wb.forget(ctx, p)
	if err != nil {
		return d.fs.errno("unlink", p, err)
	}
	if err := d.fs.wb.waitRelated(ctx, p); err != nil {
		return d.fs.errno("unlink", p, err)
	}
	fn, onServer, errno := d.detach(ctx, name)
	if errno != 0 {
		return errno
	}
	if had {
		onServer = serverHas
	}
	if onServer {
		err := d.fs.remote.Delete(ctx, p)
		// A journaled upload that failed left nothing to remove.
		if err != nil && !(had && errors.Is(err, iofs.ErrNotExist)) {
			return d.fs.errno("unlink", p, err)
		}
	}
	fn.markUnlinked()
	d.fs.cacheRemove(p, false)
	d.fs.dirChanged(d.remotePath())
	return 0
}

// detach prepares the file called name for its disappearance from the
// server (unlink, or a rename over it): open handles get the whole content
// locally. It returns the file's node, if it has one, and whether the
// server has the file at all.
func (d *dirNode) detach(ctx context.Context, name string) (*fileNode, bool, syscall.Errno) {
	ch := d.GetChild(name)
	if ch == nil {
		return nil, true, 0
	}
	fn, ok := ch.Operations().(*fileNode)
	if !ok {
		return nil, true, 0
	}
	fn.cmu.Lock()
	defer fn.cmu.Unlock()
	p := fn.remotePath()
	if fn.content != nil {
		fn.content.stopStream() // nothing may reach the server after the removal
	}
	if fn.handles > 0 {
		if err := fn.ensureContent(); err != nil {
			return nil, false, d.fs.errno("unlink", p, err)
		}
		if err := fn.content.loadAll(ctx, d.fs.remote, p); err != nil {
			return nil, false, d.fs.errno("unlink", p, err)
		}
	}
	return fn, fn.content == nil || fn.content.onServer, 0
}

// markUnlinked records that the file is gone from the server: its handles
// keep the content, and nothing more is uploaded. A nil node is ignored.
func (n *fileNode) markUnlinked() {
	if n == nil {
		return
	}
	n.cmu.Lock()
	n.unlinked = true
	n.publish()
	n.cmu.Unlock()
}

// Rmdir removes an empty directory (RMD). Servers word "not empty" in many
// ways (vsftpd: "Remove directory operation failed."), so a failure is
// checked against the directory's listing.
func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if d.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	p := cache.Join(d.remotePath(), name)
	// In writeback mode, files journaled below make it not empty.
	if err := d.fs.wb.waitRelated(ctx, p); err != nil {
		return d.fs.errno("rmdir", p, err)
	}
	if err := d.fs.remote.RemoveDir(ctx, p); err != nil {
		ents, lerr := d.fs.remote.List(ctx, p)
		if lerr == nil && d.removeTempNames(ctx, p, ents) {
			err = d.fs.remote.RemoveDir(ctx, p)
		} else if lerr == nil && len(ents) > 0 {
			return syscall.ENOTEMPTY
		}
		if err != nil {
			return d.fs.errno("rmdir", p, err)
		}
	}
	d.fs.cacheRemove(p, true)
	d.fs.dirChanged(d.remotePath())
	return 0
}

// removeTempNames removes the temporary uploads a crash left in dir, if
// they are all it holds (the listing hides them, so to the user the
// directory is empty), and reports whether it did.
func (d *dirNode) removeTempNames(ctx context.Context, dir string, ents []conn.Entry) bool {
	if len(ents) == 0 {
		return false
	}
	for _, e := range ents {
		if !isTempName(e.Name) {
			return false
		}
	}
	for _, e := range ents {
		if err := d.fs.remote.Delete(ctx, cache.Join(dir, e.Name)); err != nil {
			return false
		}
	}
	return true
}

// openExisting lists the directory afresh and, if the server holds a file
// called name, opens it as open(2) without O_CREAT would. found says
// whether it did (or failed trying).
func (d *dirNode) openExisting(ctx context.Context, name string, flags uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, syscall.Errno, bool) {
	dir := d.remotePath()
	d.fs.meta.Invalidate(cache.Join(dir, name))
	e, at, err := d.fs.lookup(ctx, dir, name)
	switch {
	case err == errNotExist:
		return nil, nil, 0, false
	case err != nil:
		return nil, nil, d.fs.errno("create", cache.Join(dir, name), err), true
	case e.Type == conn.TypeDir:
		return nil, nil, syscall.EISDIR, true
	}
	ch := d.fs.newChild(ctx, &d.Inode, d.rel(), name, e, at, out)
	fn, ok := ch.Operations().(*fileNode)
	if !ok {
		return nil, nil, syscall.EACCES, true
	}
	h, _, errno := fn.Open(ctx, flags)
	if errno != 0 {
		return nil, nil, errno, true
	}
	return ch, h, 0, true
}
