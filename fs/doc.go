// Package fs is the FUSE side of ftpfs: a go-fuse node tree (directories,
// files, symlinks) and open-file handles that translate lookups, listings
// and reads into calls on a Remote, with a metadata cache in between.
//
// It reaches the server only through the Remote interface, which
// *conn.Pool satisfies; it imports conn for the Entry type and the error
// sentinels only, and never jlaffaye/ftp. Errors become errno in one place,
// errno.go.
//
// Locking, in the order locks are taken (never the reverse):
//
//  1. fileHandle.mu serialises one handle's reads (a stream's position).
//  2. fileNode.cmu guards a file's content, open handles and unlinked
//     flag. It is held across network I/O: fills, uploads and their
//     retries, and waits for the writeback journal. Only operations on
//     that same file's content take it: open, read of written content,
//     write, flush, fsync, release, truncate, unlink and rename of it.
//  3. node.mu guards the entry a node last saw and, for files, the view of
//     the content published under cmu (fileNode.publish). Lookups,
//     READDIRPLUS and getattr take only this one: they never wait for a
//     transfer, of this file or any other.
//  4. Short leaf locks, never held across I/O or while taking another:
//     fsys.mu (listing fetches in flight, files being written), the inode
//     table's, overrides.mu, and the caches' own.
//
// go-fuse's Notify* calls must never run under any of these locks, nor
// inside a FUSE operation, with two exceptions: an open that finds the file
// changed on the server, and an opendir that fetched the directory's first
// listing (its link count is known from then on), invalidate the kernel's
// attributes of that inode only (NotifyContent with offset -1), which locks
// no page and no inode.
package fs
