package fs

import (
	"context"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// node is what directories, files and symlinks share: the mount's state
// and the entry last seen for this path.
type node struct {
	fusefs.Inode
	fs *fsys

	mu      sync.Mutex
	entry   conn.Entry // guarded by mu
	entryAt time.Time  // guarded by mu; how fresh entry is
}

// rel returns the node's path below the mount root, "" for the root. A
// node whose ancestor was removed gets a path that exists nowhere.
func (n *node) rel() string {
	return n.Path(n.Root())
}

// remotePath returns the node's absolute path on the server.
func (n *node) remotePath() string {
	return n.fs.remoteOf(n.rel())
}

// setEntry records what ftpfs itself just made of the file. Its time is
// exact: ftpfs set it (see keepExactTime).
func (n *node) setEntry(e conn.Entry) {
	e.TimeGrain = 0
	n.setEntryAt(e, n.fs.now())
}

// setEntryAt records e, learnt at at, unless the node knows something
// as new or newer: a listing asked for before an upload must not undo it
// (a stale size would reach the kernel and truncate what it shows). A tie
// goes to what the node knows, a change ftpfs made.
func (n *node) setEntryAt(e conn.Entry, at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.entryAt.IsZero() && !at.After(n.entryAt) {
		return
	}
	n.entry, n.entryAt = keepExactTime(e, n.entry), at
}

// keepExactTime returns e with the time of old, what was shown before,
// where e's time is coarse (LIST's minute or day, see conn.Entry.TimeGrain)
// and old's lies within it: both are true, old is the more exact, and a
// time shown must not move by itself when the listing is refreshed. On
// vsftpd a directory's time, advanced to the second by a change made
// here, went back to its minute at the next listing (a fresh tester).
func keepExactTime(e, old conn.Entry) conn.Entry {
	if e.TimeGrain > 0 && e.HasTime && old.HasTime && old.Type == e.Type &&
		!old.ModTime.Before(e.ModTime) && old.ModTime.Before(e.ModTime.Add(e.TimeGrain)) {
		e.ModTime = old.ModTime
	}
	return e
}

// currentEntry is what the node shows: its entry (fileNode refines it
// with local changes).
func (n *node) currentEntry() conn.Entry { return n.getEntry() }

func (n *node) getEntry() conn.Entry {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.entry
}

// OnAdd records the node's inode number as taken.
func (n *node) OnAdd(ctx context.Context) {
	n.fs.inodes.add(&n.Inode)
}

// OnForget releases the node's inode number.
func (n *node) OnForget() {
	n.fs.inodes.forget(&n.Inode)
}

// Getattr refreshes the node's entry from its parent's listing (cached or
// fetched) and reports it.
func (n *node) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if n.IsRoot() {
		n.fs.rootAttr(&out.Attr)
		out.SetTimeout(n.fs.opts.CacheTTL)
		return 0
	}
	p := n.remotePath()
	e, at, err := n.fs.lookup(ctx, cache.Parent(p), baseName(p))
	if err != nil {
		return n.fs.errno("getattr", p, err)
	}
	n.setEntryAt(e, at)
	n.fs.fillAttr(p, n.getEntry(), &out.Attr)
	out.SetTimeout(n.fs.opts.CacheTTL)
	return 0
}

// Statfs reports a large, mostly free filesystem: FTP cannot tell the
// server's free space, and a zero here makes file managers refuse to copy.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const bsize = 4096
	out.Bsize = bsize
	out.Frsize = bsize
	out.Blocks = 1 << 40 / bsize
	out.Bfree = out.Blocks
	out.Bavail = out.Blocks
	out.Files = 1 << 20
	out.Ffree = 1 << 20
	out.NameLen = maxNameLen
	return 0
}

// remoteOf returns the server path of a path relative to the mount root.
func (f *fsys) remoteOf(rel string) string {
	if rel == "" {
		return f.opts.RemoteRoot
	}
	return cache.Join(f.opts.RemoteRoot, rel)
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// newChild returns the node for the entry e called name in parent, whose
// path below the root is parentRel (callers compute it once for many
// children): the live child if it is still of the same type, else a new
// node.
func (f *fsys) newChild(ctx context.Context, parent *fusefs.Inode, parentRel, name string, e conn.Entry, at time.Time, out *fuse.EntryOut) *fusefs.Inode {
	rel := joinRel(parentRel, name)
	out.SetEntryTimeout(f.opts.CacheTTL)
	out.SetAttrTimeout(f.opts.CacheTTL)
	mode := typeBits(e.Type)
	if ch := parent.GetChild(name); ch != nil && ch.StableAttr().Mode == mode {
		// The live node may know better than the listing (an upload
		// finished after the listing was asked for, a file being written):
		// the kernel gets what the node's Getattr would say.
		if n, ok := ch.Operations().(interface {
			setEntryAt(conn.Entry, time.Time)
			currentEntry() conn.Entry
		}); ok {
			n.setEntryAt(e, at)
			f.fillAttr(f.remoteOf(rel), n.currentEntry(), &out.Attr)
		}
		return ch
	}
	f.fillAttr(f.remoteOf(rel), e, &out.Attr)
	var ops fusefs.InodeEmbedder
	var n *node
	switch e.Type {
	case conn.TypeDir:
		d := &dirNode{}
		ops, n = d, &d.node
	case conn.TypeSymlink:
		l := &symlinkNode{}
		ops, n = l, &l.node
	default:
		fl := &fileNode{}
		ops, n = fl, &fl.node
	}
	n.fs, n.entry, n.entryAt = f, e, at
	ino := f.inodes.number(parent.Root(), rel, mode)
	return parent.NewInode(ctx, ops, fusefs.StableAttr{Mode: mode, Ino: ino})
}
