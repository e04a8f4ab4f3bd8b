package fs

import (
	"context"
	"errors"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/conn"
)

// Setattr changes a file's size (here: in the content, uploaded at close,
// or at once for truncate(2) on a path), then what setattr does for any
// node.
func (n *fileNode) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	if size, ok := in.GetSize(); ok {
		if errno := n.fs.fileSizeErrno(int64(size)); errno != 0 {
			return errno
		}
		if errno := n.truncate(ctx, int64(size), f != nil); errno != 0 {
			return errno
		}
	}
	if errno := n.setattr(ctx, in, n.pending()); errno != 0 {
		return errno
	}
	return n.attrReply(n.Getattr(ctx, f, out), out)
}

// attrReply completes a SETATTR reply. go-fuse fills in the inode number
// for GETATTR but not here, and the kernel takes the reply's st_ino: a 0
// there made `cp a b` say "'a' and 'b' are the same file" after a chmod of
// both, and tail -F think the file was replaced.
func (n *node) attrReply(errno syscall.Errno, out *fuse.AttrOut) syscall.Errno {
	out.Ino = n.StableAttr().Ino
	return errno
}

// truncate changes the size. ftruncate(2) (through a handle) is uploaded
// when the handle is closed; truncate(2) on a path at once, even while
// handles are open: none of them may write again before its release. A
// truncate(2) whose upload fails (or whose caller is killed during it)
// leaves the server's file as it was, and the mount shows that; with
// handles open, their close uploads the new size.
func (n *fileNode) truncate(ctx context.Context, size int64, viaHandle bool) syscall.Errno {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	p := n.remotePath()
	if err := n.ensureContent(); err != nil {
		return n.fs.errno("truncate", p, err)
	}
	err := n.content.truncate(size)
	n.publish()
	if err != nil {
		return n.fs.errno("truncate", p, err)
	}
	if viaHandle {
		return 0 // uploaded when the handle is closed
	}
	if err := n.flush(ctx); err != nil {
		if n.handles == 0 {
			// The content was made for this truncate from the server's
			// file, which keeps its previous version: nothing of it is
			// the application's to keep, and it must not be shown.
			_ = n.content.buf.Close()
			n.setContent(nil)
			n.forgetShown()
		}
		return n.fs.uploadErrno(p, err)
	}
	if n.handles == 0 {
		_ = n.content.buf.Close()
		n.setContent(nil)
	}
	return 0
}

// pending reports whether the file has changes not yet uploaded (nor
// journaled), which a time set now must not precede (the upload would
// reset it): the attributes then travel with that upload.
func (n *fileNode) pending() bool {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	return n.content != nil && (n.content.dirty || !n.content.onServer)
}

// Setattr changes mode, times and ownership of a directory or symlink.
func (n *node) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	if errno := n.setattr(ctx, in, false); errno != 0 {
		return errno
	}
	return n.attrReply(n.Getattr(ctx, f, out), out)
}

// setattr applies mode, mtime and ownership. FTP has no owners: a chown to
// the owner shown is accepted, any other refused. A mode is sent with SITE
// CHMOD and a time with MFMT (or vsftpd's MDTM form); what the server
// cannot store is kept by ftpfs and shown. A time set on a file whose
// upload is pending is sent after the upload.
func (n *node) setattr(ctx context.Context, in *fuse.SetAttrIn, pending bool) syscall.Errno {
	p := n.remotePath()
	if uid, ok := in.GetUID(); ok && uid != n.fs.opts.UID {
		return syscall.EPERM
	}
	if gid, ok := in.GetGID(); ok && gid != n.fs.opts.GID {
		return syscall.EPERM
	}
	if mode, ok := in.GetMode(); ok {
		if errno := n.fs.setMode(ctx, p, mode&0o7777, pending); errno != 0 {
			return errno
		}
	}
	if mtime, ok := in.GetMTime(); ok {
		errno := n.fs.setTime(ctx, p, mtime, pending)
		if errno == 0 {
			// Shown at once: the node's entry is newer than any listing
			// that still has the old time.
			e := n.getEntry()
			e.ModTime, e.HasTime = serverTime(mtime), true
			n.setEntry(e)
		}
		if errno != 0 && n.StableAttr().Mode == syscall.S_IFDIR {
			// vsftpd and pyftpdlib set times on files only; tar sets
			// them on every directory it makes. Keep it here instead.
			return 0
		}
		return errno
	}
	return 0
}

// setMode sends a mode with SITE CHMOD, unless the file's upload is
// pending, and records it so that it reads back whatever the server does.
// In writeback mode, a mode that must follow journaled operations (a
// directory's, after the uploads into it) is journaled behind them.
func (f *fsys) setMode(ctx context.Context, p string, mode uint32, pending bool) syscall.Errno {
	if !pending {
		queued, err := f.wb.setAttrs(p, conn.Attrs{Mode: mode, HasMode: true})
		if err != nil {
			return f.errno("chmod", p, err)
		}
		pending = queued
	}
	if !pending {
		err := f.remote.Chmod(ctx, p, mode)
		if err != nil && !errors.Is(err, conn.ErrNotSupported) {
			return f.errno("chmod", p, err)
		}
	}
	f.overrides.update(p, func(o *override) { o.mode, o.hasMode, o.pendingMode = mode, true, pending })
	return 0
}

// setTime sets or records a modification time; in writeback mode it is
// journaled as setMode's mode is.
func (f *fsys) setTime(ctx context.Context, p string, t time.Time, pending bool) syscall.Errno {
	if !pending {
		queued, err := f.wb.setAttrs(p, conn.Attrs{ModTime: t, HasTime: true})
		if err != nil {
			return f.errno("utimens", p, err)
		}
		pending = queued
	}
	f.overrides.update(p, func(o *override) { o.mtime, o.hasMtime, o.pendingTime = t, true, pending })
	if pending {
		return 0
	}
	err := f.remote.SetTime(ctx, p, t)
	switch {
	case err == nil:
		f.overrides.update(p, func(o *override) { o.hasMtime = false })
		f.cacheTouch(p, serverTime(t))
	case !errors.Is(err, conn.ErrNotSupported):
		return f.errno("utimens", p, err)
	}
	return 0
}
