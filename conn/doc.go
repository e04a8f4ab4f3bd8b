// Package conn is the FTP side of ftpfs: dialing (with timeouts, TLS, a
// source address), data connections in passive or active mode, a pool of
// logged-in control connections, listing parsers for MLSD and the LIST
// dialects, server quirks, and the one place where FTP replies become
// errors.
//
// It is built on github.com/jlaffaye/ftp and must not import FUSE packages.
// Errors it returns wrap *Error, whose Unwrap yields an io/fs sentinel
// (fs.ErrNotExist, fs.ErrPermission, fs.ErrExist) or one of its own
// (ErrTransient, ErrNotSupported, ErrNoSpace, ErrNameTooLong,
// ErrMaybeDenied, ErrUnreachable), so that package fs can map them to
// errno with errors.Is. An optional command the server refuses is learnt once per
// pool (quirks.go) and done another way.
//
// Locking: a Session serves one goroutine at a time; the Pool hands sessions
// out and takes them back under its own mutex.
package conn
