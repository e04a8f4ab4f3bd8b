package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// Rename moves a file or directory (RNFR, RNTO). Over an existing target,
// as an editor saves, servers that refuse to overwrite (proftpd without
// AllowOverwrite, for one) get the target removed first. A file whose
// upload is pending is uploaded before it moves; in writeback mode, a file
// whose content is journaled is renamed in the journal, behind it (a new
// file whose upload has not started just changes its name there).
func (d *dirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if d.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		return syscall.EINVAL // FTP cannot swap two names atomically
	}
	nd, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EXDEV
	}
	from, to := cache.Join(d.remotePath(), name), cache.Join(nd.remotePath(), newName)
	src, _, err := d.fs.lookup(ctx, cache.Parent(from), name)
	if err != nil {
		if !d.pendingChild(name) {
			return d.fs.errno("rename", from, err)
		}
		src = conn.Entry{Name: name, Type: conn.TypeFile}
	}
	if errno := d.uploadChild(ctx, name); errno != 0 {
		return errno
	}
	if src.Type == conn.TypeFile {
		src = d.childEntry(name, src)
	}
	dst, _, dstErr := d.fs.lookup(ctx, cache.Parent(to), newName)
	dstExists := dstErr == nil || nd.pendingChild(newName)
	if dstExists {
		if flags&unix.RENAME_NOREPLACE != 0 {
			return syscall.EEXIST
		}
		if errno := checkReplace(src, dst); errno != 0 {
			return errno
		}
	}
	if src.Type == conn.TypeFile && d.fs.wb.pendingAt(from) {
		// Its content is journaled: the rename goes behind it.
		target, targetOnServer, errno := nd.detach(ctx, newName)
		if errno != 0 {
			return errno
		}
		queued, err := d.fs.wb.rename(from, to, dstExists && targetOnServer)
		if err != nil {
			return d.fs.errno("rename", from, err)
		}
		if queued {
			target.markUnlinked()
			d.fs.renamed(from, to, src)
			return 0
		}
	}
	// Done at once: after what is journaled at, above or below either
	// path (a directory moves once the server holds what it holds).
	if err := d.fs.wb.waitRelated(ctx, from, to); err != nil {
		return d.fs.errno("rename", from, err)
	}
	if err := d.fs.wb.wait(ctx, from); err != nil {
		return d.fs.uploadErrno(from, err)
	}
	if had, serverHas, err := d.fs.wb.forget(ctx, to); err != nil {
		return d.fs.errno("rename", to, err)
	} else if had && !serverHas {
		dstExists = false // only queued: the server has nothing there
	}
	target, _, errno := nd.detach(ctx, newName)
	if errno != 0 {
		return errno
	}
	if err := d.fs.remote.Rename(ctx, from, to); err != nil {
		if !dstExists {
			return d.fs.errno("rename", from, err)
		}
		if errno := nd.removeForRename(ctx, to, dst); errno != 0 {
			return errno
		}
		if err := d.fs.remote.Rename(ctx, from, to); err != nil {
			return d.fs.errno("rename", from, err)
		}
	}
	target.markUnlinked()
	d.fs.renamed(from, to, src)
	return 0
}

// checkReplace applies rename(2)'s rules for replacing dst with src.
func checkReplace(src, dst conn.Entry) syscall.Errno {
	switch {
	case src.Type == conn.TypeDir && dst.Type != conn.TypeDir:
		return syscall.ENOTDIR
	case src.Type != conn.TypeDir && dst.Type == conn.TypeDir:
		return syscall.EISDIR
	}
	return 0
}

// removeForRename removes the target of a rename the server would not
// overwrite; a directory must be empty.
func (d *dirNode) removeForRename(ctx context.Context, to string, dst conn.Entry) syscall.Errno {
	if dst.Type == conn.TypeDir {
		if err := d.fs.remote.RemoveDir(ctx, to); err != nil {
			if ents, lerr := d.fs.remote.List(ctx, to); lerr == nil && len(ents) > 0 {
				return syscall.ENOTEMPTY
			}
			return d.fs.errno("rename", to, err)
		}
		return 0
	}
	if err := d.fs.remote.Delete(ctx, to); err != nil {
		return d.fs.errno("rename", to, err)
	}
	return 0
}

// renamed brings the caches up to date after a rename.
func (f *fsys) renamed(from, to string, e conn.Entry) {
	f.dirChanged(cache.Parent(from))
	f.dirChanged(cache.Parent(to))
	f.meta.Remove(cache.Parent(from), baseName(from))
	f.forgetContents(from, e.Type == conn.TypeDir)
	if e.Type == conn.TypeDir {
		f.meta.ForgetBelow(from)
		f.meta.ForgetBelow(to)
	}
	f.cacheUpdate(to, e)
	f.overrides.remove(to)
	f.overrides.move(from, to)
}

// pendingChild reports whether name is a file created here and not yet
// uploaded. Lookups ask it: it reads the published view, never waiting for
// the file's upload.
func (d *dirNode) pendingChild(name string) bool {
	ch := d.GetChild(name)
	if ch == nil {
		return false
	}
	fn, ok := ch.Operations().(*fileNode)
	if !ok {
		return false
	}
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.local.created
}

// uploadChild uploads the child's pending changes, if it has any (in
// writeback mode: queues them).
func (d *dirNode) uploadChild(ctx context.Context, name string) syscall.Errno {
	ch := d.GetChild(name)
	if ch == nil {
		return 0
	}
	fn, ok := ch.Operations().(*fileNode)
	if !ok {
		return 0
	}
	fn.cmu.Lock()
	defer fn.cmu.Unlock()
	if err := fn.flush(ctx); err != nil {
		return d.fs.uploadErrno(fn.remotePath(), err)
	}
	return 0
}

// childEntry returns the entry of a file child as its node knows it (its
// size may be newer than any listing), else e.
func (d *dirNode) childEntry(name string, e conn.Entry) conn.Entry {
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok {
			return fn.getEntry()
		}
	}
	return e
}
