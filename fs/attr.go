package fs

import (
	iofs "io/fs"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/conn"
)

// typeBits returns the S_IFMT bits for an entry type. Entries that are
// neither directories nor symlinks show as regular files: FTP can only
// retrieve them.
func typeBits(t conn.EntryType) uint32 {
	switch t {
	case conn.TypeDir:
		return syscall.S_IFDIR
	case conn.TypeSymlink:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

// perm returns the permission bits to show for e: the listed ones where the
// listing has them, else 0755 for directories and 0644 for the rest, and
// in both cases masked by the umask option if it was given.
func (f *fsys) perm(e conn.Entry) uint32 {
	var p uint32 = 0o644
	if e.Type == conn.TypeDir {
		p = 0o755
	}
	if e.Type == conn.TypeSymlink {
		p = 0o777
	}
	if e.HasPerm {
		p = uint32(e.Perm.Perm()) | specialBits(e.Perm)
	}
	if f.opts.HasUmask {
		if !e.HasPerm && e.Type != conn.TypeSymlink {
			p = 0o666
			if e.Type == conn.TypeDir {
				p = 0o777
			}
		}
		p &^= f.opts.Umask
	}
	return p
}

// fillAttr fills a FUSE attribute block from a listing entry; a
// directory's link count is dirLinks'.
func (f *fsys) fillAttr(path string, e conn.Entry, a *fuse.Attr) {
	if o, ok := f.overrides.get(path); ok {
		if o.hasMode {
			e.Perm, e.HasPerm = iofs.FileMode(o.mode&0o777)|unixSpecial(o.mode), true
		}
		if o.hasMtime {
			e.ModTime, e.HasTime = o.mtime, true
		}
	}
	a.Mode = typeBits(e.Type) | f.perm(e)
	a.Nlink = 1
	if e.Type == conn.TypeDir {
		a.Nlink = f.dirLinks(path)
	}
	a.Owner = fuse.Owner{Uid: f.opts.UID, Gid: f.opts.GID}
	a.Size = uint64(max(e.Size, 0))
	if e.Type == conn.TypeSymlink {
		a.Size = uint64(len(e.Target))
	}
	a.Blocks = (a.Size + 511) / 512
	// st_blksize is the I/O size tools like cp and cat pick: a large one
	// means fewer, larger FUSE requests.
	a.Blksize = maxIO
	t := f.mounted
	if e.HasTime {
		t = e.ModTime
	}
	a.SetTimes(&t, &t, &t)
}

// dirLinks returns the link count of the directory dir: 2 plus its
// subdirectories while its listing is cached, as local filesystems and
// sshfs show it, else 1. The listing is only looked at, never fetched for
// it. 1 is what filesystems that cannot count show (btrfs, and ftpfs
// before any listing): gnulib's fts (find, du, chmod -R) takes exactly 2
// as "no subdirectories" and skips descending (its leaf optimization,
// which it applies on FUSE mounts too), while 1 makes it look at every
// entry. A count from a listing that has since changed on the server is
// as stale as that listing, and goes with it.
func (f *fsys) dirLinks(dir string) uint32 {
	l, ok := f.meta.PeekListing(dir)
	if !ok {
		return 1
	}
	return 2 + uint32(l.Count(func(e conn.Entry) bool { return e.Type == conn.TypeDir }))
}

// linksUnknown reports a directory shown with the link count 1 of a
// listing not fetched yet: the kernel must not keep those attributes from
// a lookup or a getattr (uncachedTTL), so that a stat after the listing
// (`ls d; stat d`) gets the count. Such a stat costs a GETATTR that ftpfs
// answers from memory. The attributes READDIRPLUS gives (`ls -l` of the
// parent) are kept for cache_timeout all the same, for speed.
func linksUnknown(a *fuse.Attr) bool {
	return a.Mode&syscall.S_IFMT == syscall.S_IFDIR && a.Nlink == 1
}

// uncachedTTL is the attribute timeout of attributes the kernel must not
// keep: go-fuse replaces a timeout of 0 by the mount's, and the kernel
// rounds 1 ns up to one jiffy.
const uncachedTTL = time.Nanosecond

// rootAttr describes the mount root, which no listing names.
func (f *fsys) rootAttr(a *fuse.Attr) {
	f.fillAttr(f.opts.RemoteRoot, conn.Entry{Type: conn.TypeDir}, a)
}

// unixSpecial and specialBits convert setuid, setgid and sticky between
// Unix mode bits and io/fs's flags.
func unixSpecial(mode uint32) iofs.FileMode {
	var m iofs.FileMode
	if mode&0o4000 != 0 {
		m |= iofs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= iofs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= iofs.ModeSticky
	}
	return m
}

func specialBits(m iofs.FileMode) uint32 {
	var mode uint32
	if m&iofs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&iofs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&iofs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}
