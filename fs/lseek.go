package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Lseek answers lseek(2)'s SEEK_DATA and SEEK_HOLE (the kernel handles the
// other kinds itself) as ext4 does for a file without holes, which is how
// ftpfs shows every file: data from the offset to the end, one hole at the
// end, and ENXIO at or past the end. go-fuse's default answers SEEK_HOLE
// at the end with the end, where local filesystems say ENXIO.
func (n *fileNode) Lseek(ctx context.Context, f fusefs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	var out fuse.AttrOut
	if errno := n.Getattr(ctx, f, &out); errno != 0 {
		return 0, errno
	}
	if off >= out.Size {
		return 0, syscall.ENXIO
	}
	switch whence {
	case unix.SEEK_DATA:
		return off, 0
	case unix.SEEK_HOLE:
		return out.Size, 0
	}
	return 0, syscall.EINVAL
}
