package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// dirNode is a directory on the server.
type dirNode struct {
	node
}

// Lookup answers from the cached listing of the directory, fetching it if
// needed: one listing serves every name in the directory, present or not.
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	dir := d.remotePath()
	e, err := d.fs.lookup(ctx, dir, name)
	if err != nil {
		if err == errNotExist {
			out.SetEntryTimeout(d.fs.opts.CacheTTL)
		}
		return nil, d.fs.errno("lookup", cache.Join(dir, name), err)
	}
	return d.fs.newChild(ctx, &d.Inode, name, e, out), 0
}

// OpendirHandle takes a snapshot of the listing; the handle serves the
// directory stream and the lookups of READDIRPLUS from it, so `ls -l`
// costs one listing however the cache is set.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	dir := d.remotePath()
	l, err := d.fs.listing(ctx, dir)
	if err != nil {
		return nil, 0, d.fs.errno("opendir", dir, err)
	}
	return &dirHandle{d: d, l: l}, 0, 0
}

// dirHandle is an open directory: a listing snapshot and a read position.
// go-fuse serialises calls on one directory handle.
type dirHandle struct {
	d   *dirNode
	l   *cache.Listing[conn.Entry]
	pos int // index into ".", "..", then the listing
}

// Readdirent returns the next entry, "." and ".." first.
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	i := h.pos
	if i >= h.l.Len()+2 {
		return nil, 0
	}
	h.pos++
	de := &fuse.DirEntry{Mode: syscall.S_IFDIR, Off: uint64(i + 1)}
	switch i {
	case 0:
		de.Name, de.Ino = ".", h.d.StableAttr().Ino
	case 1:
		de.Name, de.Ino = "..", 1
		if _, p := h.d.Parent(); p != nil {
			de.Ino = p.StableAttr().Ino
		}
	default:
		name, e := h.l.At(i - 2)
		de.Name, de.Mode = name, typeBits(e.Type)
		de.Ino = hashIno(joinRel(h.d.rel(), name))
	}
	return de, 0
}

// Lookup answers READDIRPLUS's lookup of the entry just returned.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	e, ok := h.l.Get(name)
	if !ok {
		return h.d.Lookup(ctx, name, out)
	}
	return h.d.fs.newChild(ctx, &h.d.Inode, name, e, out), 0
}

// Seekdir moves to an offset that Readdirent handed out.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.pos = int(off)
	return 0
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
