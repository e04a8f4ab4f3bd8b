package fs

import (
	"context"
	"io"
	"time"

	"github.com/ftpfs/ftpfs/conn"
)

// Remote is the server as fs sees it; *conn.Pool is the implementation.
// Paths are absolute on the server. Errors unwrap to the sentinels that
// errno.go maps.
type Remote interface {
	// List returns the entries of a directory, without "." and "..".
	List(ctx context.Context, dir string) ([]conn.Entry, error)
	// OpenFile returns a reader for a file the caller believes holds size
	// bytes (-1: unknown); it may do no I/O until read.
	OpenFile(path string, size int64) conn.FileReader
	// Store makes path hold the size bytes of src, then sets a (in the
	// same round trip as the check that the server has every byte).
	Store(ctx context.Context, path string, src io.ReaderAt, size int64, a conn.Attrs) (conn.Applied, error)
	// StoreStream makes path hold what r yields until io.EOF, in one
	// attempt (an error means the caller must upload again), then sets
	// the attributes attrs returns once the data is sent.
	StoreStream(ctx context.Context, path string, r io.Reader, attrs func() conn.Attrs) (conn.Applied, error)
	// Append adds bytes [off, size) of src to path, which holds off
	// bytes, then sets a.
	Append(ctx context.Context, path string, src io.ReaderAt, off, size int64, a conn.Attrs) (conn.Applied, error)
	// Copy makes the server copy from, which holds size bytes, to to by
	// itself, then sets a on to. conn.ErrNotSupported where the server
	// cannot; any failure leaves to as something to replace.
	Copy(ctx context.Context, from, to string, size int64, a conn.Attrs) (conn.Applied, error)
	Rename(ctx context.Context, from, to string) error
	Delete(ctx context.Context, path string) error
	MakeDir(ctx context.Context, path string) error
	RemoveDir(ctx context.Context, path string) error
	// SetTime and Chmod fail with conn.ErrNotSupported where the server
	// cannot do them.
	SetTime(ctx context.Context, path string, t time.Time) error
	Chmod(ctx context.Context, path string, mode uint32) error
}
