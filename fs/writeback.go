package fs

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// With -o writeback, close(2) returns once a file's bytes are on local
// disk: its content is copied into a queue under the cache directory and
// synced, and workers upload the queue in parallel on the pool. Until its
// upload is done, a queued file is read from the queue, listed with its
// queued size and time, and its attributes wait for the upload; fsync(2)
// waits for its upload and reports its error; unlink cancels it; a rename
// moves it in the queue while it has not started, else waits for it. The
// queue survives the process: what is still queued when ftpfs stops is
// uploaded by the next mount of the same server.

// jobState is where a queued upload stands.
type jobState int

const (
	jobQueued jobState = iota
	jobRunning
	jobDone
	jobFailed
	jobCanceled
)

// retryPause is how long a queued upload that failed for a transient
// reason (the server away longer than retry_timeout) waits before its
// next attempt.
const retryPause = 5 * time.Second

// wbJob is one queued upload. Its data file never changes; a new close of
// the same file queues a new job, which cancels this one if it has not
// started, or else waits for it.
type wbJob struct {
	cache.QueueEntry           // Path is guarded by writeback.mu
	n                *fileNode // nil for a job resumed from an earlier mount
	prev             *wbJob    // an earlier upload of the same path that must end first
	done             chan struct{}
	state            jobState // guarded by writeback.mu
	err              error    // set before done is closed
}

// writeback is the upload queue of a mount in writeback mode.
type writeback struct {
	f       *fsys
	q       *cache.Queue
	ctx     context.Context
	stop    context.CancelFunc
	unsaved string // where the data of uploads that failed for good is kept

	mu     sync.Mutex
	cond   *sync.Cond
	todo   []*wbJob          // guarded by mu; in queue order, canceled ones included
	byPath map[string]*wbJob // guarded by mu; the newest job of each path, until reported
	active int               // guarded by mu; jobs queued or running
	closed bool              // guarded by mu
}

// newWriteback opens the queue in dir and picks up what an earlier mount
// left in it; start starts the uploads.
func newWriteback(f *fsys, dir, unsaved string) (*writeback, error) {
	q, err := cache.OpenQueue(dir)
	if err != nil {
		return nil, err
	}
	w := &writeback{f: f, q: q, unsaved: unsaved, byPath: map[string]*wbJob{}}
	w.cond = sync.NewCond(&w.mu)
	w.ctx, w.stop = context.WithCancel(context.Background())
	left, err := q.Entries()
	if err != nil {
		f.log.Error("upload queue", "err", err)
	}
	for _, e := range left {
		w.add(&wbJob{QueueEntry: e, done: make(chan struct{})})
	}
	if len(left) > 0 {
		f.log.Info("resuming uploads queued by an earlier mount", "files", len(left), "queue", dir)
	}
	return w, nil
}

// start starts workers uploads at once.
func (w *writeback) start(workers int) {
	for i := 0; i < max(workers, 1); i++ {
		go w.work()
	}
}

// enqueue queues the size bytes of src for upload to e.Path, as the
// content of node n; the bytes are on disk when it returns.
func (w *writeback) enqueue(e cache.QueueEntry, src io.ReaderAt, n *fileNode) error {
	e, err := w.q.Add(e, src)
	if err != nil {
		return err
	}
	w.add(&wbJob{QueueEntry: e, n: n, done: make(chan struct{})})
	return nil
}

func (w *writeback) add(j *wbJob) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old := w.byPath[j.Path]; old != nil {
		switch old.state {
		case jobQueued:
			if old.prev == nil {
				w.cancelLocked(old)
			} else {
				j.prev = old
			}
		case jobRunning:
			j.prev = old
		}
	}
	w.byPath[j.Path] = j
	w.todo = append(w.todo, j)
	w.active++
	w.cond.Signal()
}

// cancelLocked drops a job that has not started.
func (w *writeback) cancelLocked(j *wbJob) {
	j.state = jobCanceled
	w.active--
	if err := w.q.Remove(j.ID); err != nil {
		w.f.log.Warn("upload queue", "err", err)
	}
	close(j.done)
	w.cond.Broadcast()
}

// work uploads jobs until the queue is closed.
func (w *writeback) work() {
	for {
		w.mu.Lock()
		for len(w.todo) == 0 && !w.closed {
			w.cond.Wait()
		}
		if w.closed {
			w.mu.Unlock()
			return
		}
		j := w.todo[0]
		w.todo = w.todo[1:]
		w.mu.Unlock()
		w.run(j)
	}
}

// run uploads one job, once the upload of the same path before it ended.
func (w *writeback) run(j *wbJob) {
	if j.prev != nil {
		select {
		case <-j.prev.done:
		case <-w.ctx.Done():
			return
		}
	}
	w.mu.Lock()
	if j.state != jobQueued {
		w.mu.Unlock()
		return
	}
	j.state = jobRunning
	p := j.Path
	w.mu.Unlock()

	applied, err := w.upload(j, p)
	switch {
	case err == nil:
		w.finish(j, jobDone, nil)
		w.uploaded(j, p, applied)
	case w.ctx.Err() != nil:
		// Shutting down: the entry stays for the next mount.
	case errors.Is(err, conn.ErrTransient):
		w.f.log.Warn("queued upload failed; trying again", "path", p, "err", err, "pause", retryPause)
		select {
		case <-time.After(retryPause):
		case <-w.ctx.Done():
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.byPath[j.Path] != j {
			// A newer upload of the file is queued: it replaces this one.
			j.state = jobQueued
			w.cancelLocked(j)
			return
		}
		j.state = jobQueued
		w.todo = append(w.todo, j)
		w.cond.Signal()
	default:
		w.fail(j, p, err)
	}
}

func (w *writeback) upload(j *wbJob, p string) (conn.Applied, error) {
	f, err := os.Open(w.q.DataPath(j.ID))
	if err != nil {
		return conn.Applied{}, err
	}
	defer f.Close()
	a := conn.Attrs{Mode: j.Mode, HasMode: j.HasMode, ModTime: j.ModTime, HasTime: j.HasTime}
	return w.f.remote.Store(w.ctx, p, f, j.Size, a)
}

// finish ends a job that ran.
func (w *writeback) finish(j *wbJob, state jobState, err error) {
	if state == jobDone {
		if rerr := w.q.Remove(j.ID); rerr != nil {
			w.f.log.Warn("upload queue", "err", rerr)
		}
	}
	w.mu.Lock()
	j.state, j.err = state, err
	if state == jobDone && w.byPath[j.Path] == j {
		delete(w.byPath, j.Path)
	}
	w.active--
	w.cond.Broadcast()
	w.mu.Unlock()
	close(j.done)
}

// fail gives up on a job the server refused: its data is kept under the
// cache directory, the log says where, and fsync reports the error.
func (w *writeback) fail(j *wbJob, p string, err error) {
	name := time.Now().UTC().Format("20060102T150405") + "-" + strings.ReplaceAll(strings.Trim(p, "/"), "/", "%")
	kept := filepath.Join(w.unsaved, name)
	if merr := os.MkdirAll(w.unsaved, 0o700); merr == nil {
		if rerr := os.Rename(w.q.DataPath(j.ID), kept); rerr != nil {
			kept = w.q.DataPath(j.ID)
		}
	}
	_ = w.q.Remove(j.ID)
	w.f.log.Error("queued upload failed; the data is kept locally", "path", p, "err", err, "copy", kept)
	w.finish(j, jobFailed, err)
}

// uploaded brings the caches and the node up to date after an upload.
func (w *writeback) uploaded(j *wbJob, p string, applied conn.Applied) {
	if n := j.n; n != nil {
		n.cmu.Lock()
		if n.content != nil {
			n.content.onServer = true
		}
		n.cmu.Unlock()
	}
	a := conn.Attrs{Mode: j.Mode, HasMode: j.HasMode, ModTime: j.ModTime, HasTime: j.HasTime}
	w.f.settlePending(p, a, applied)
	if !w.pendingAt(p) {
		// A mode or time set after the file was queued.
		w.f.applyPending(w.ctx, p)
	}
}

// pendingAt reports whether an upload of p is queued or running.
func (w *writeback) pendingAt(p string) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.byPath[p]
	return j != nil && (j.state == jobQueued || j.state == jobRunning)
}

// wait waits for the upload of p, if one is queued, and returns its error
// (once: a failure reported is forgotten).
func (w *writeback) wait(ctx context.Context, p string) error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	j := w.byPath[p]
	w.mu.Unlock()
	if j == nil {
		return nil
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	if w.byPath[p] == j {
		delete(w.byPath, p)
	}
	w.mu.Unlock()
	return j.err
}

// forget is for p's removal (unlink, or a rename over it): a queued upload
// is canceled, a running one waited for. It reports whether p had an
// upload queued, and if so whether the server now holds a file at p.
func (w *writeback) forget(ctx context.Context, p string) (had, serverHas bool) {
	if w == nil {
		return false, false
	}
	w.mu.Lock()
	j := w.byPath[p]
	if j == nil {
		w.mu.Unlock()
		return false, false
	}
	delete(w.byPath, p)
	if j.state == jobQueued && j.prev == nil {
		w.cancelLocked(j)
		w.mu.Unlock()
		return true, j.ServerHad
	}
	if j.state == jobQueued {
		w.cancelLocked(j) // its predecessor is running: wait for that
		j = j.prev
	}
	w.mu.Unlock()
	select {
	case <-j.done:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return true, j.state == jobDone || j.ServerHad
}

// queuedNew reports whether p is a file whose upload has not started and
// whose path held nothing on the server: a rename can move it in the
// queue alone.
func (w *writeback) queuedNew(p string) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.byPath[p]
	return j != nil && j.state == jobQueued && j.prev == nil && !j.ServerHad
}

// move renames the queued upload of from to to, if it still has not
// started; serverHas says whether the server holds a file at to, which the
// upload will replace. The manifest is rewritten first, so that a crash
// leaves the file queued under one of its names.
func (w *writeback) move(from, to string, serverHas bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.byPath[from]
	if j == nil || j.state != jobQueued || j.prev != nil {
		return false
	}
	e := j.QueueEntry
	e.Path, e.ServerHad = to, serverHas
	if err := w.q.Update(e); err != nil {
		w.f.log.Warn("upload queue", "err", err)
		return false
	}
	j.Path, j.ServerHad = to, serverHas
	delete(w.byPath, from)
	w.byPath[to] = j
	return true
}

// waitBelow waits for the uploads of every path below dir: a directory
// is renamed or removed only once the server has what it holds.
func (w *writeback) waitBelow(ctx context.Context, dir string) error {
	if w == nil {
		return nil
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	w.mu.Lock()
	var jobs []*wbJob
	for p, j := range w.byPath {
		if strings.HasPrefix(p, prefix) {
			jobs = append(jobs, j)
		}
	}
	w.mu.Unlock()
	for _, j := range jobs {
		select {
		case <-j.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// openData opens the queued data of p, if an upload of it is queued or
// running, for reading.
func (w *writeback) openData(p string) (*os.File, int64) {
	if w == nil {
		return nil, 0
	}
	w.mu.Lock()
	j := w.byPath[p]
	ok := j != nil && (j.state == jobQueued || j.state == jobRunning)
	w.mu.Unlock()
	if !ok {
		return nil, 0
	}
	f, err := os.Open(w.q.DataPath(j.ID))
	if err != nil {
		return nil, 0 // uploaded meanwhile: the server has it
	}
	return f, j.Size
}

// overlay shows the files of dir whose uploads are queued in its listing
// l, fetched from the server, which does not have them yet.
func (w *writeback) overlay(dir string, l *cache.Listing[conn.Entry]) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.active == 0 {
		return
	}
	for p, j := range w.byPath {
		if (j.state != jobQueued && j.state != jobRunning) || cache.Parent(p) != dir {
			continue
		}
		e := conn.Entry{Name: baseName(p), Type: conn.TypeFile, Size: j.Size, ModTime: j.Changed, HasTime: true}
		if j.HasTime {
			e.ModTime = j.ModTime
		}
		if old, ok := l.Get(e.Name); ok && old.Type == conn.TypeFile && old.Size == e.Size && old.ModTime.Equal(e.ModTime) {
			continue
		}
		l.Set(e.Name, e)
	}
}

// drain waits until the queue is empty or ctx ends, then stops the
// workers. It returns how many uploads are left in the queue for the
// next mount.
func (w *writeback) drain(ctx context.Context) int {
	if w == nil {
		return 0
	}
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	w.mu.Lock()
	for w.active > 0 && ctx.Err() == nil {
		w.cond.Wait()
	}
	left := w.active
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	w.stop()
	return left
}

// pending returns how many uploads are queued or running.
func (w *writeback) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.active
}

// enqueue queues the content for upload, in writeback mode; the server's
// bytes it lacks (a partial rewrite) are fetched first. Called with cmu
// held.
func (n *fileNode) enqueue(ctx context.Context) error {
	c, p := n.content, n.remotePath()
	size := c.size()
	if err := c.fill(ctx, n.fs.remote, p, 0, size); err != nil {
		return err
	}
	a := n.fs.pendingAttrs(p)
	e := cache.QueueEntry{Path: p, Size: size, Mode: a.Mode, HasMode: a.HasMode, ModTime: a.ModTime, HasTime: a.HasTime,
		ServerHad: c.onServer || n.fs.wb.pendingAt(p), Changed: c.mtime}
	if err := n.fs.wb.enqueue(e, c.buf, n); err != nil {
		return err
	}
	c.dirty, c.minWrite = false, math.MaxInt64
	ent := n.getEntry()
	ent.Type, ent.Size, ent.ModTime, ent.HasTime = conn.TypeFile, size, c.mtime, true
	n.setEntry(ent)
	n.fs.cacheUpdate(p, ent)
	return nil
}
