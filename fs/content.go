package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
	"github.com/ftpfs/ftpfs/internal/ranges"
)

// memLimit is how much of a file being written stays in memory before its
// buffer spills to the cache directory.
const memLimit = 256 << 10

// content is the local state of a file that is being written: a buffer
// addressed like the file, and what of it is known. The server's old bytes
// are fetched only where something needs them: a read of a range not
// written, or an upload that must send the whole file. A pure append never
// fetches (it is sent with APPE), nor does a file rewritten from the start.
// The fileNode's cmu guards it.
type content struct {
	buf *cache.Buffer
	// known holds the ranges below keep that buf holds; past keep every
	// byte is known (written, or a hole that reads as zeros).
	known ranges.Set
	// keep: the server's bytes [0, keep) still belong to the file;
	// truncation lowers it.
	keep       int64
	serverSize int64 // bytes the server holds, when onServer
	onServer   bool  // false for a file created here and not yet uploaded
	minWrite   int64 // lowest offset written or truncated since the upload
	// grown: a truncate made the file longer since the upload. The hole
	// goes up with STOR through the temporary name, not APPE: a failed
	// APPE of it would leave part of the zeros under the real name, and
	// truncate(2) changes a file whole or not at all.
	grown bool
	dirty bool
	// failed is why the last upload failed, if it did and nothing was
	// written since (errKilled: its writer was killed during it): the
	// release does not try again (the close's retries are spent, and a
	// full disk would take every byte once more for the same answer) but
	// keeps the bytes.
	failed error
	// emptied: truncated to nothing by an open with O_TRUNC, and nothing
	// written since. The close of a duplicate descriptor (a shell's
	// `cmd > file` opens, dup2s and closes) does not upload that: the
	// server keeps its file until the writer's last close.
	emptied bool
	// mtime is the time of the last change, in the whole seconds the
	// server stores (MFMT): shown while the file is written, and set on
	// the server by its upload, so that it never changes by itself.
	mtime time.Time
	up    *upstream // an upload running alongside the writes, if any
}

// now is the time of a change, in whole seconds (see content.mtime).
func now() time.Time { return time.Now().Truncate(time.Second) }

func newContent(dir, path string, size int64, onServer bool) (*content, error) {
	c := &content{buf: cache.NewBuffer(dir, memLimit, path), keep: size, serverSize: size,
		onServer: onServer, minWrite: math.MaxInt64, mtime: now()}
	if err := c.buf.Truncate(size); err != nil {
		return nil, err
	}
	return c, nil
}

// contentFrom returns a content holding the size bytes of r: a file whose
// upload is queued, which the server does not have yet.
func contentFrom(dir, path string, r io.Reader, size int64) (*content, error) {
	c, err := newContent(dir, path, 0, false)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size; {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if n > 0 {
			if _, werr := c.buf.WriteAt(buf[:n], off); werr != nil {
				_ = c.buf.Close()
				return nil, werr
			}
			off += int64(n)
		}
		if err != nil {
			_ = c.buf.Close()
			return nil, fmt.Errorf("read queued data: %w", err)
		}
	}
	return c, nil
}

func (c *content) size() int64 { return c.buf.Size() }

func (c *content) write(p []byte, off int64) error {
	if _, err := c.buf.WriteAt(p, off); err != nil {
		return err
	}
	if c.up != nil {
		c.up.wrote(off, int64(len(p)))
	}
	c.markKnown(off, off+int64(len(p)))
	c.minWrite = min(c.minWrite, off)
	c.dirty, c.mtime, c.emptied, c.failed = true, now(), false, nil
	return nil
}

func (c *content) truncate(n int64) error {
	if c.up != nil {
		c.up.abort()
	}
	grows := n > c.size()
	if err := c.buf.Truncate(n); err != nil {
		return err
	}
	c.grown = c.grown || grows
	c.keep = min(c.keep, n)
	c.minWrite = min(c.minWrite, n)
	c.dirty, c.mtime, c.emptied, c.failed = true, now(), false, nil
	return nil
}

// markKnown adds [off, end), up to keep, to the known ranges.
func (c *content) markKnown(off, end int64) {
	c.known.Add(off, min(end, c.keep))
}

// gaps returns the unknown ranges within [off, end).
func (c *content) gaps(off, end int64) []ranges.Range {
	return c.known.Gaps(off, min(end, c.keep))
}

// fill fetches the server's bytes for the unknown ranges within [off, end).
func (c *content) fill(ctx context.Context, r Remote, path string, off, end int64) error {
	gaps := c.gaps(off, end)
	if len(gaps) == 0 {
		return nil
	}
	f := r.OpenFile(path, c.keep)
	defer f.Close()
	buf := make([]byte, 256<<10)
	for _, g := range gaps {
		for pos := g.Off; pos < g.End; {
			n, err := f.ReadAt(ctx, buf[:min(int64(len(buf)), g.End-pos)], pos)
			if n == 0 && err == nil || atEOF(err) {
				return errShrunk
			}
			if err != nil {
				return err
			}
			if _, err := c.buf.WriteAt(buf[:n], pos); err != nil {
				return err
			}
			pos += int64(n)
		}
		c.markKnown(g.Off, g.End)
	}
	return nil
}

// errShrunk: the file on the server is shorter than when it was opened.
var errShrunk = &conn.Error{Op: "retr", Msg: "the file shrank on the server while open", Err: errors.New("file shrank")}

// readAt reads from the buffer, fetching unknown ranges first.
func (c *content) readAt(ctx context.Context, r Remote, path string, p []byte, off int64) (int, error) {
	if err := c.fill(ctx, r, path, off, off+int64(len(p))); err != nil {
		return 0, err
	}
	return c.buf.ReadAt(p, off)
}

// upload sends the content to the server: APPE when only bytes past the
// server's end were added, else STOR of the whole file, fetched first where
// unknown.
// The attributes a are sent in the upload's last round trip; sent says
// whether there was an upload to carry them, and applied what the server
// took.
func (c *content) upload(ctx context.Context, r Remote, path string, log *slog.Logger, a conn.Attrs) (applied conn.Applied, sent bool, err error) {
	if !c.dirty {
		return applied, false, nil
	}
	size := c.size()
	// APPE only adds to bytes already there: to an empty file (one made
	// by create) the whole file goes with STOR, through its temporary
	// name and checked by digest, never in place.
	appendOnly := c.onServer && c.minWrite >= c.serverSize && !c.grown
	unchanged := appendOnly && size == c.serverSize
	appendOnly = appendOnly && c.serverSize > 0
	streamed := false
	if c.up != nil {
		streamed, applied = c.up.finish(size, a)
		c.up = nil
		if !streamed {
			log.Debug("retrying", "op", "stor", "path", path, "err", "the upload alongside the writes did not complete; sending the whole file")
		}
	}
	sent = true
	switch {
	case streamed:
		// the server has it all already
	case unchanged:
		sent = false // nothing changed on the server's side
	case appendOnly:
		applied, err = r.Append(ctx, path, c.buf, c.serverSize, size, a)
		if errors.Is(err, conn.ErrNotSupported) {
			applied, err = c.store(ctx, r, path, size, a)
		}
	default:
		applied, err = c.store(ctx, r, path, size, a)
	}
	if err != nil {
		return applied, false, err
	}
	c.uploaded(size)
	return applied, sent, nil
}

// uploaded records that the server has (or, in writeback mode, the journal
// will give it) the size bytes of the content. What was past keep is then
// on the server and in buf; what was unknown below keep stays unknown
// (APPE sent only the new bytes; STOR fetched everything first).
func (c *content) uploaded(size int64) {
	oldKeep := c.keep
	c.keep, c.serverSize = size, size
	c.markKnown(oldKeep, size)
	c.onServer, c.dirty, c.minWrite, c.grown, c.failed = true, false, math.MaxInt64, false, nil
}

func (c *content) store(ctx context.Context, r Remote, path string, size int64, a conn.Attrs) (conn.Applied, error) {
	if err := c.fill(ctx, r, path, 0, size); err != nil {
		return conn.Applied{}, err
	}
	return r.Store(ctx, path, c.buf, size, a)
}

// streamable reports whether an upload may start alongside the writes: the
// file is empty here and none of the server's bytes are needed.
func (c *content) streamable() bool {
	return c.up == nil && c.keep == 0 && c.size() == 0
}

// stopStream ends a running upload, waiting until its STOR has returned.
func (c *content) stopStream() {
	if c.up != nil {
		c.up.stop()
		c.up = nil
	}
}

// loadAll fetches every unknown byte, so that the content no longer needs
// the server's copy (before that copy is removed under an open handle).
func (c *content) loadAll(ctx context.Context, r Remote, path string) error {
	return c.fill(ctx, r, path, 0, c.size())
}
