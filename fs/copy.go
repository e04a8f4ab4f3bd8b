package fs

import (
	"context"
	"errors"
	"math"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// errCopyHere is the answer to a copy_file_range(2) that the server does
// not do: EOPNOTSUPP makes the kernel copy by itself, reading and writing
// through the mount (fs/fuse/file.c, fuse_copy_file_range, falls back to
// splice_copy_file_range on EOPNOTSUPP and EXDEV), so that the caller
// (coreutils cp 9.x calls copy_file_range first) sees no error. ENOSYS
// would do that too, but for the rest of the mount (the kernel sets
// no_copy_file_range).
const errCopyHere = syscall.EOPNOTSUPP

// CopyFileRange answers copy_file_range(2) from this file to another file
// of the mount with a copy on the server (Remote.Copy, proftpd's mod_copy)
// where the call copies the whole file into an empty one: offsets 0, a
// length at least the file's size, the destination empty. The server's
// copy replaces the destination's local content, which is then clean:
// its close uploads nothing. Anything else, a server without the copy
// command, or a failed copy, is errCopyHere: the kernel copies through
// the mount, as it did before, and the destination's content is as the
// failed copy found it.
//
// The source must be the server's file as it is: not being written here,
// not behind journaled operations (writeback mode), which a copy on the
// server would overtake. Nor may the destination have journaled
// operations, which would land over the copy. The copy returns at most
// 4 GiB - 1 (the reply's count is 32 bits), so larger files are copied
// by the kernel.
func (n *fileNode) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64,
	out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	dst, ok := out.Operations().(*fileNode)
	if !ok || dst == n || offIn != 0 || offOut != 0 || flags != 0 || n.fs.opts.ReadOnly {
		return 0, errCopyHere
	}
	from, to := n.remotePath(), dst.remotePath()
	size, ok := n.serverSize()
	if !ok || size == 0 || size > math.MaxUint32 || uint64(size) > length ||
		n.fs.wb.related(from) || n.fs.wb.related(to) {
		return 0, errCopyHere
	}
	if err := dst.copyFrom(ctx, from, size); err != nil {
		n.fs.log.Debug("the server did not copy; the kernel copies through the mount",
			"op", "site cpto", "from", from, "path", to, "err", err)
		return 0, errCopyHere
	}
	n.fs.log.Debug("copied on the server", "from", from, "path", to, "bytes", size)
	return uint32(size), 0
}

// serverSize returns the size of the file on the server, if nothing of it
// is local: no content with changes (a clean one tells the size), not
// removed while open.
func (n *fileNode) serverSize() (int64, bool) {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	switch c := n.content; {
	case n.unlinked:
		return 0, false
	case c == nil:
		return n.getEntry().Size, true
	case c.dirty || !c.onServer || c.up != nil:
		return 0, false
	default:
		return c.serverSize, true
	}
}

// errNotEmpty: the destination of a copy holds bytes; the copy would
// have to merge.
var errNotEmpty = errors.New("the destination is not empty")

// copyFrom makes the server copy from, which holds size bytes, to this
// file, which must be open for writing and empty, then gives the node a
// clean content describing the copy. It holds cmu throughout: the
// content may not change under the copy, nor be uploaded over it.
func (n *fileNode) copyFrom(ctx context.Context, from string, size int64) error {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	c := n.content
	switch {
	case n.fs.closing.Load():
		return errShuttingDown
	case c == nil || n.unlinked || c.up != nil:
		return errNotEmpty // not open for writing here, or an upload runs
	case c.size() != 0:
		return errNotEmpty
	}
	p := n.remotePath()
	nc, err := newContent(n.fs.opts.CacheDir, p, size, true)
	if err != nil {
		return err
	}
	// The copy is a new file: it gets the time of the copy, which the
	// node shows at once, and the mode the file was created with.
	a := withShownTime(n.uploadAttrs(p), nc.mtime)
	applied, err := n.fs.remote.Copy(context.WithoutCancel(ctx), from, p, size, a)
	if err != nil {
		_ = nc.buf.Close()
		return err
	}
	_ = c.buf.Close()
	n.setContent(nc)
	e := n.getEntry()
	e.Type, e.Size = conn.TypeFile, size
	if applied.Time {
		e.ModTime, e.HasTime = serverTime(a.ModTime), true
	} else {
		e.ModTime, e.HasTime = nc.mtime, true
	}
	n.setEntry(e)
	n.publish()
	n.fs.cacheUpdate(p, e)
	n.fs.dirChanged(cache.Parent(p))
	n.fs.settlePending(p, a, applied)
	return nil
}
