package fs

import (
	"context"

	"github.com/ftpfs/ftpfs/conn"
)

// Remote is the server as fs sees it. Paths are absolute on the server.
type Remote interface {
	// List returns the entries of a directory, without "." and "..".
	List(ctx context.Context, dir string) ([]conn.Entry, error)
	// OpenFile returns a reader for a file; it may do no I/O until read.
	OpenFile(path string) conn.FileReader
}
