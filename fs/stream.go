package fs

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// upstream is an upload that runs while a file is being written from its
// start: a STOR that reads the content's buffer right behind the writer, so
// that close(2) waits only for the tail instead of for a whole second pass.
// It follows the writes as long as they come in order; anything else (a
// write elsewhere, a truncate) aborts it, and the upload at close then
// sends the whole file as usual.
type upstream struct {
	buf *cache.Buffer

	mu       sync.Mutex
	cond     sync.Cond
	hwm      int64        // guarded by mu; bytes written in order from 0
	sent     int64        // guarded by mu; bytes handed to the STOR
	final    int64        // guarded by mu; the size to send, once finishing; -1 before
	aborted  bool         // guarded by mu
	finished bool         // guarded by mu; the STOR returned
	err      error        // guarded by mu; what the STOR returned
	attrs    conn.Attrs   // guarded by mu; to set after the data, given by finish
	applied  conn.Applied // guarded by mu; what the server took of them
}

var errStreamAborted = errors.New("upload stream aborted: writes out of order")

// startUpstream begins a STOR of path fed from buf, as work of bg: the
// mount's end aborts it (the upload at close then sends the whole file,
// if there is a close). It returns nil once the mount is closing.
func startUpstream(bg *background, r Remote, path string, buf *cache.Buffer) *upstream {
	u := &upstream{buf: buf, final: -1}
	u.cond.L = &u.mu
	started := bg.start(func(ctx context.Context) {
		stop := context.AfterFunc(ctx, u.abort) // wakes a Read waiting for the writer
		defer stop()
		applied, err := r.StoreStream(ctx, path, u, u.finalAttrs)
		u.mu.Lock()
		u.finished, u.err, u.applied = true, err, applied
		u.aborted = u.aborted || err != nil
		u.cond.Broadcast()
		u.mu.Unlock()
	})
	if !started {
		return nil
	}
	return u
}

// wrote records a write; out of order, it aborts the stream.
func (u *upstream) wrote(off, n int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if off != u.hwm {
		u.abortLocked()
		return
	}
	u.hwm += n
	u.cond.Broadcast()
}

// abort stops the stream; the STOR ends with what it sent, and the caller
// uploads the whole file later.
func (u *upstream) abort() {
	u.mu.Lock()
	u.abortLocked()
	u.mu.Unlock()
}

func (u *upstream) abortLocked() {
	u.aborted = true
	u.cond.Broadcast()
}

// wait aborts the stream if it is still running and waits for its STOR to
// end, so that nothing more reaches the server afterwards.
func (u *upstream) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.abortLocked()
	for !u.finished {
		u.cond.Wait()
	}
}

// finish sends the rest up to size, then the attributes a, and reports
// whether the server has the whole file, and what it took of a. false
// means the caller must upload it another way.
func (u *upstream) finish(size int64, a conn.Attrs) (bool, conn.Applied) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.aborted || u.hwm != size {
		u.abortLocked()
		for !u.finished {
			u.cond.Wait()
		}
		return false, conn.Applied{}
	}
	u.final, u.attrs = size, a
	u.cond.Broadcast()
	for !u.finished {
		u.cond.Wait()
	}
	ok := u.err == nil && !u.aborted
	return ok, u.applied
}

// finalAttrs gives the STOR the attributes finish brought.
func (u *upstream) finalAttrs() conn.Attrs {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.attrs
}

// Read feeds the STOR: the bytes written so far, waiting for more until
// finish says where the file ends.
func (u *upstream) Read(p []byte) (int, error) {
	u.mu.Lock()
	for !u.aborted && u.sent == u.hwm && u.final < 0 {
		u.cond.Wait()
	}
	switch {
	case u.aborted:
		u.mu.Unlock()
		return 0, errStreamAborted
	case u.final >= 0 && u.sent == u.final:
		u.mu.Unlock()
		return 0, io.EOF
	}
	off, n := u.sent, min(int64(len(p)), u.hwm-u.sent)
	u.mu.Unlock()
	got, err := u.buf.ReadAt(p[:n], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	u.mu.Lock()
	u.sent += int64(got)
	u.mu.Unlock()
	return got, nil
}
