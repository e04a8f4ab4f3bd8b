package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"syscall"
	"time"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// errNotExist is what lookups in a listing return for a missing name.
var errNotExist = iofs.ErrNotExist

// errnoTable maps the sentinels conn's errors unwrap to. Order matters: a
// transient failure that carries no other meaning is an I/O error.
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
	{context.Canceled, syscall.EINTR},
	{iofs.ErrNotExist, syscall.ENOENT},
	{iofs.ErrPermission, syscall.EACCES},
	{iofs.ErrExist, syscall.EEXIST},
	{iofs.ErrInvalid, syscall.EINVAL},
	{conn.ErrNoSpace, syscall.ENOSPC},
	{conn.ErrNameTooLong, syscall.ENAMETOOLONG},
	{conn.ErrNotSupported, syscall.ENOTSUP},
	// The pool logged the server unreachable once; each operation it
	// then fails at once is not worth a line of its own.
	{conn.ErrUnreachable, syscall.EIO},
}

// errno is the one place where errors become errno. go-fuse's own ToErrno
// compares with == and answers ENOSYS for anything it does not know, which
// would show a wrapped FTP error as "function not implemented". Whatever
// does not map is logged once here, with the operation and path, as EIO.
func (f *fsys) errno(op, path string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if en, ok := err.(syscall.Errno); ok {
		return en // fs's own verdict; an errno wrapped inside a network error is not
	}
	if errors.Is(err, conn.ErrMaybeDenied) && f.listed(path) {
		f.log.Debug("operation refused", "op", op, "path", path, "err", err)
		return syscall.EACCES
	}
	for _, m := range errnoTable {
		if errors.Is(err, m.err) {
			if m.errno != syscall.ENOENT {
				f.log.Debug("operation failed", "op", op, "path", path, "err", err)
			}
			return m.errno
		}
	}
	f.log.Warn("operation failed", "op", op, "path", path, "err", err)
	return syscall.EIO
}

// listed reports whether the parent's listing holds the name at path. A
// 550 that does not say why (vsftpd's "Failed to open file." and "Failed
// to change directory." for a file or directory of mode 000, pure-ftpd's
// "Can't check for file existence") is a refusal for a name the server
// lists, and "no such file" only for a name it does not. The listing is
// the cached one where there is one and it is less than a second old (a
// name just looked up has it), else it is fetched: one listing, on a path
// that failed already.
func (f *fsys) listed(path string) bool {
	if path == "" || path == "/" || path == f.opts.RemoteRoot {
		return true // the mount's root was entered at mount
	}
	_, at, err := f.lookup(context.Background(), cache.Parent(path), baseName(path))
	if err == nil && f.now().Sub(at) > time.Second {
		// A listing from before the failure may hold a name removed on
		// the server since: ask again before calling it a refusal.
		f.meta.Invalidate(path)
		_, _, err = f.lookup(context.Background(), cache.Parent(path), baseName(path))
	}
	if errors.Is(err, conn.ErrMaybeDenied) {
		// The parent cannot be listed either: a name below a directory
		// out of reach is out of reach, if that directory exists.
		return f.listed(cache.Parent(path))
	}
	return err == nil
}

// uploadErrno maps a failed upload for close(2) or fsync(2). The
// application must see the failure; a full disk stays ENOSPC, a refusal
// EACCES, and everything else, the retries spent, is EIO.
func (f *fsys) uploadErrno(path string, err error) syscall.Errno {
	errno := f.errno("upload", path, err)
	switch errno {
	case syscall.ENOSPC, syscall.EACCES, syscall.EINTR:
		return errno
	}
	return syscall.EIO
}
