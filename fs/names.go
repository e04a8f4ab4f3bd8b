package fs

import "syscall"

// maxNameLen is the longest name, in bytes, that ftpfs lets an
// application make: statfs's f_namemax, as on ext4, xfs and btrfs (and
// on the servers' own disks, mostly). FUSE itself passes names of up to
// 1,024 bytes.
const maxNameLen = 255

// nameErrno is the one place where a name's length becomes an error: a
// lookup of a longer name that the directory does not hold answers
// ENAMETOOLONG instead of ENOENT, as local filesystems do, and since the
// kernel looks a name up before it creates, removes or renames it (open
// with O_CREAT, mkdir, rename on either side, unlink, rmdir, truncate),
// they all answer so. A longer name the server lists (a Windows server
// allows 255 UTF-16 units, up to 765 bytes of UTF-8) stays reachable.
func nameErrno(name string, errno syscall.Errno) syscall.Errno {
	if errno == syscall.ENOENT && len(name) > maxNameLen {
		return syscall.ENAMETOOLONG
	}
	return errno
}
