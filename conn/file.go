package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// skipLimit is how far ahead of its stream a read may land and still be
	// served by reading and discarding the gap: cheaper than a new
	// REST+RETR, which costs several round trips.
	skipLimit = 256 << 10
	// streamIdle is how long an unused stream keeps its session before the
	// session goes back to the pool.
	streamIdle = 5 * time.Second
)

// File reads one remote file at any offset. It keeps a RETR stream open
// between reads, so that a file read front to back costs one transfer, and
// restarts it with REST when a read lands elsewhere or the stream breaks.
// The stream's session returns to the pool when the stream ends, after
// streamIdle without reads, or when the pool needs it for someone else.
type File struct {
	p       *Pool
	path    string       // in the server's character set
	pathErr error        // the name has no form in that set
	last    atomic.Int64 // unix nanoseconds of the last read, for reclaiming
	// size is what the caller expects, -1 if unknown. A transfer that ends
	// short of it is not trusted: a connection cut by a middlebox can end
	// with a clean close, and the server's 226 (sent once it handed the
	// last byte to its socket) does not prove the bytes arrived.
	size int64

	mu   sync.Mutex
	s    *Session    // guarded by mu; nil when no stream is open, or resp is parallel
	resp stream      // guarded by mu
	seq  int         // guarded by mu; reads in a row that continued the stream
	pos  int64       // guarded by mu; offset of the next byte of resp
	from int64       // guarded by mu; offset resp started at
	idle *time.Timer // guarded by mu
	// parFails counts parallel reads of this file that ended in a
	// failure: after maxParallelFails it reads with one stream only.
	parFails int // guarded by mu
	// warmed: spare sessions were asked for this file's parallel read.
	warmed bool // guarded by mu
}

// stream is what a File reads from: one transfer read ahead
// (streamAhead), or the ranges of several at once (parallelRead).
type stream interface {
	io.Reader
	// Close ends the transfers and returns how the last one ended.
	Close() error
	// start begins reading ahead of the caller.
	start()
}

// FileReader reads a remote file at any offset. *File is the one
// implementation; the interface lets fs be tested without a server.
type FileReader interface {
	// ReadAt fills b from off; it returns fewer bytes only at the end of
	// the file, and 0, io.EOF past it.
	ReadAt(ctx context.Context, b []byte, off int64) (int, error)
	// Close releases the connection the reader holds, if any.
	Close() error
}

// OpenFile returns a reader for path, which the caller believes holds size
// bytes (-1: unknown); it does no I/O until the first read.
func (p *Pool) OpenFile(path string, size int64) FileReader {
	sp, err := p.cc.toServer("retr", path)
	return &File{p: p, path: sp, pathErr: err, size: size}
}

// ReadAt fills b from offset off. It returns fewer bytes than len(b) only at
// the end of the file, with a nil error; 0, io.EOF past the end. Bytes that
// arrived before a failure are kept; the rest is asked for again with REST
// at the exact offset where they stopped.
func (f *File) ReadAt(ctx context.Context, b []byte, off int64) (int, error) {
	if f.pathErr != nil {
		return 0, f.pathErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last.Store(time.Now().UnixNano())
	f.seek(off)
	r := f.p.retrier()
	got := 0
	for got < len(b) {
		n, eof, err := f.readOnce(ctx, b[got:], off+int64(got))
		got += n
		if eof {
			break
		}
		if err != nil && !r.again(ctx, "retr", f.path, err) {
			return 0, err
		}
	}
	f.armIdle()
	if got == 0 {
		return 0, io.EOF
	}
	return got, nil
}

// seek makes the stream, if any, positioned at off, or drops it.
func (f *File) seek(off int64) {
	if f.resp == nil || off == f.pos {
		f.seq++
		if f.resp != nil && f.seq >= aheadAfter {
			f.resp.start()
			f.maybeParallel()
		}
		return
	}
	if sk, ok := f.resp.(interface{ seekTo(int64) bool }); ok && sk.seekTo(off) {
		f.pos = off
		return
	}
	f.seq = 0
	if gap := off - f.pos; gap > 0 && gap <= skipLimit {
		n, err := io.CopyN(io.Discard, f.resp, gap)
		f.pos += n
		if err == nil {
			return
		}
	}
	f.abandonStream()
}

// abandonStream drops the open stream without waiting: the server's reply
// to the aborted transfer is awaited in the background, off the path of
// the read that wants to start a new transfer elsewhere (on another
// session), which saves a round trip per random read.
func (f *File) abandonStream() {
	if f.resp == nil {
		return
	}
	s, resp, path := f.s, f.resp, f.path
	f.s, f.resp = nil, nil
	f.p.track(f, false)
	go func() {
		err := wrapErr("retr", path, resp.Close())
		if s != nil {
			f.p.put(s, err)
		}
	}()
}

// readOnce reads from the open stream, opening one at off if needed, and
// reports whether the file ended. At the end of a transfer it checks the
// server's final reply, and that the transfer did not stop short of the
// size the caller expects: a transfer the server aborted, or a connection
// cut early, is an error to retry and never a short file.
func (f *File) readOnce(ctx context.Context, b []byte, off int64) (n int, eof bool, err error) {
	if f.resp == nil {
		if err := f.openStream(ctx, off); err != nil {
			return 0, false, err
		}
	}
	n, err = io.ReadFull(f.resp, b)
	f.pos += int64(n)
	switch {
	case err == nil:
		return n, false, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		err = transferEnd(wrapErr("retr", f.path, f.resp.Close()))
		f.resp = nil
		f.releaseSession(err)
		if err == nil && f.size >= 0 && f.pos < f.size && f.pos > f.from {
			// Ask again from where it stopped: a transfer that yields
			// nothing there means the file really is shorter now.
			err = &Error{Op: "retr", Path: f.path, Err: ErrTransient,
				Msg: fmt.Sprintf("the transfer ended at byte %d of %d", f.pos, f.size)}
		}
		return n, err == nil, err
	case errors.Is(err, errParallelEnd):
		// Nobody is left to fetch what lies ahead: read on with one
		// stream, from where the ranges stopped.
		f.dropStreamLocked(nil)
		return n, false, nil
	default:
		err = wrapErr("retr", f.path, err)
		if _, ok := f.resp.(*parallelRead); ok {
			f.parFails++
		}
		f.dropStreamLocked(err)
		return n, false, err
	}
}

// transferEnd classifies the reply that ends a transfer whose data stopped:
// anything but a 5xx refusal means the bytes may be fetched again from where
// they stopped. (pure-ftpd answers a transfer cut short with a stray
// "150 0.003 seconds (measured here)" line.)
func transferEnd(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code != 0 && e.Code < 500 && !errors.Is(err, ErrTransient) {
		return &Error{Op: e.Op, Path: e.Path, Code: e.Code, Msg: e.Msg, Err: errors.Join(e.Err, ErrTransient)}
	}
	return err
}

func (f *File) openStream(ctx context.Context, off int64) error {
	s, err := f.p.get(ctx)
	if err != nil {
		return err
	}
	resp, err := f.retrFrom(s, off)
	if err != nil {
		return f.p.put(s, s.explain(wrapErr("retr", f.path, err)))
	}
	f.s, f.resp, f.pos, f.from = s, newStreamAhead(resp), off, off
	f.p.track(f, true)
	return nil
}

// retrFrom starts a transfer of the file from off: REST and RETR, or, on a
// server that refuses REST (by lacking it, or by configuration, as proftpd
// with AllowRetrieveRestart off), RETR from the start with the bytes
// before off read and dropped. A refusal is learnt for the mount.
func (f *File) retrFrom(s *Session, off int64) (io.ReadCloser, error) {
	ref := f.p.q.ref
	path, err := s.arg(f.path)
	if err != nil {
		return nil, err
	}
	if off > 0 && !ref.refused(optRestRetr) {
		resp, err := s.c.RetrFrom(path, uint64(off))
		if err == nil || !refused(err) || s.ctl.lastVerb != "REST" && !mentionsRestart(err) {
			return resp, err
		}
		ref.learn(optRestRetr, wrapErr("retr", f.path, err).Error())
	}
	resp, err := s.c.RetrFrom(path, 0)
	if err != nil || off == 0 {
		return resp, err
	}
	// A file that ends before off reads as ended, as after a REST past
	// its end.
	if _, err := io.CopyN(io.Discard, resp, off); err != nil && !errors.Is(err, io.EOF) {
		_ = resp.Close()
		return nil, err
	}
	return resp, nil
}

// mentionsRestart reports a refusal of RETR that blames the REST before
// it (proftpd: "Restart not permitted").
func mentionsRestart(err error) bool {
	return strings.Contains(strings.ToLower(err.Error()), "restart")
}

// dropStreamLocked abandons the open stream. The library waits for the
// server's reply to the aborted transfer, which keeps the session in step.
func (f *File) dropStreamLocked(cause error) {
	if f.resp == nil {
		return
	}
	closeErr := f.resp.Close()
	f.resp = nil
	if cause == nil {
		cause = closeErr
	}
	f.releaseSession(wrapErr("retr", f.path, cause))
}

func (f *File) releaseSession(err error) {
	f.p.track(f, false)
	if f.s == nil {
		return
	}
	f.p.put(f.s, err)
	f.s = nil
}

// dropStream closes the stream from outside a read.
func (f *File) dropStream() {
	f.mu.Lock()
	f.dropStreamLocked(nil)
	f.mu.Unlock()
}

func (f *File) armIdle() {
	if f.resp == nil {
		return
	}
	if f.idle == nil {
		f.idle = time.AfterFunc(streamIdle, f.dropStream)
		return
	}
	f.idle.Reset(streamIdle)
}

// Close releases the stream and its session.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.idle != nil {
		f.idle.Stop()
	}
	f.dropStreamLocked(nil)
	return nil
}

// track records which files hold a session, so that reclaimStream can find
// an idle one when the pool runs dry.
func (p *Pool) track(f *File, holding bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if holding {
		p.files[f] = struct{}{}
	} else {
		delete(p.files, f)
	}
}

// reclaimStream closes the least recently used stream that is not inside a
// read, giving its session back to the pool.
func (p *Pool) reclaimStream() {
	p.mu.Lock()
	files := make([]*File, 0, len(p.files))
	for f := range p.files {
		files = append(files, f)
	}
	p.mu.Unlock()
	sort.Slice(files, func(i, j int) bool { return files[i].last.Load() < files[j].last.Load() })
	for _, f := range files {
		if f.mu.TryLock() {
			held := f.resp != nil
			f.dropStreamLocked(nil)
			f.mu.Unlock()
			if held {
				return
			}
		}
	}
}
