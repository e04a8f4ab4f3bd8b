// Package fs is the FUSE side of ftpfs: a go-fuse node tree (directories,
// files, symlinks) and open-file handles that translate lookups, listings
// and reads into calls on a Remote, with a metadata cache in between.
//
// It reaches the server only through the Remote interface, which
// *conn.Pool satisfies; it imports conn for the Entry type and the error
// sentinels only, and never jlaffaye/ftp. Errors become errno in one place,
// errno.go.
//
// Locking: a file handle's mutex guards its state; a node's mutex guards
// the attributes it last saw. Lock order is handle, then node, then the
// inode table. go-fuse's Notify* calls must never run inside a FUSE
// operation or under any of these locks.
package fs
