package fs

import (
	"context"
	"syscall"
)

// Fsyncdir answers fsync(2) on a directory as a local filesystem does:
// 0, once the directory's changes made through this mount are on the
// server. go-fuse's default is EOPNOTSUPP, which borg (after each atomic
// rename; it tolerates only EINVAL) and other careful writers die on.
//
// What is still pending in a directory: files created in it and not yet
// uploaded (ftpfs sends a new file at its close or fsync, not at its
// creation), whose names the server does not know yet; they are uploaded
// now, as a local filesystem's fsync of the directory makes new names
// durable. With -o writeback, also the journaled operations on the
// directory, above it or below it (uploads, renames, modes and times),
// waited for. Everything else (mkdir, rmdir, unlink, a rename not held by
// the journal) reached the server within its own call.
//
// The failure of a journaled upload is reported by the file's own fsync
// (and logged); here it is waited for, not reported again.
func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	d := h.d
	for _, name := range d.unsentChildren() {
		if errno := d.uploadChild(ctx, name); errno != 0 {
			return errno
		}
	}
	dir := d.remotePath()
	if err := d.fs.wb.waitRelated(ctx, dir); err != nil {
		return d.fs.errno("fsyncdir", dir, err)
	}
	return 0
}

// unsentChildren lists the files created in d that the server has not
// seen yet.
func (d *dirNode) unsentChildren() []string {
	var names []string
	for name := range d.Children() {
		if d.pendingChild(name) {
			names = append(names, name)
		}
	}
	return names
}
