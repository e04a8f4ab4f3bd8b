package writeback

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpfs/ftpfs/cache"
)

// Store carries operations to the server. Each method is one attempt; an
// error for which Config.Transient is true is tried again later.
type Store interface {
	// Upload makes op.Path hold op.Size bytes of data, replacing what the
	// server has there, then sets op.Attrs.
	Upload(ctx context.Context, op Op, data io.ReaderAt) (Applied, error)
	// SetAttrs sets the mode and time of path.
	SetAttrs(ctx context.Context, path string, a Attrs) (Applied, error)
	// Rename renames from to to, replacing a file at to.
	Rename(ctx context.Context, from, to string) error
}

// Applied says which attributes the server took.
type Applied struct{ Mode, Time bool }

// Config sets up a Queue.
type Config struct {
	// Dir is the journal's directory; Unsaved where the data of uploads
	// that failed for good is kept.
	Dir, Unsaved string
	Store        Store
	// Transient reports an error worth another attempt (the server away,
	// a session lost); other errors are final.
	Transient func(error) bool
	// RetryPause is how long a transiently failed operation waits before
	// its next attempt (default 5 s).
	RetryPause time.Duration
	// Done is told of every operation that ended: err nil when the
	// server has it. It runs before waiters are woken.
	Done func(op Op, applied Applied, err error)
	// Logger receives the queue's log lines.
	Logger *slog.Logger
}

type state int

const (
	queued state = iota
	running
	done
	failed
	canceled
)

// op is an Op in the scheduler.
type op struct {
	Op
	seq        uint64
	state      state // guarded by Queue.mu
	err        error // set before doneCh is closed
	blockers   int   // guarded by Queue.mu; earlier related operations not ended
	dependents []*op // guarded by Queue.mu
	doneCh     chan struct{}
	refs       int          // guarded by Queue.mu; shadows showing this upload's data
	sent       atomic.Int64 // bytes of the upload read so far (progress)
	started    time.Time    // guarded by Queue.mu
}

// shadow is what ftpfs shows at a path while operations there are
// pending: the data of upload up, or nothing (up nil: renamed away).
type shadow struct {
	up *op
	by *op // the operation whose end removes the shadow
}

// Queue schedules the journal's operations on a pool of workers, each
// operation once every earlier related one has ended.
type Queue struct {
	cfg  Config
	j    *Journal
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond
	pending  []*op              // guarded by mu; queued or running, in journal order
	ready    opHeap             // guarded by mu; queued with no blockers
	shadows  map[string]*shadow // guarded by mu
	failures map[string]error   // guarded by mu; failed uploads not yet reported by Wait
	seq      uint64             // guarded by mu
	closed   bool               // guarded by mu
	stats    stats              // guarded by mu
}

// stats are the queue's counters, for Status and the log.
type stats struct {
	uploads    int   // uploads pending
	bytes      int64 // their bytes
	sinceEmpty int   // uploads done since the queue was last empty
	kept       int   // uploads kept in the unsaved directory by this mount
	done       int   // operations done by this mount
}

// Open opens the journal in cfg.Dir and schedules what an earlier mount
// left in it, in its order; Start starts the uploads.
func Open(cfg Config) (*Queue, int, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryPause == 0 {
		cfg.RetryPause = 5 * time.Second
	}
	if cfg.Transient == nil {
		cfg.Transient = func(error) bool { return false }
	}
	j, err := OpenJournal(cfg.Dir)
	if err != nil {
		return nil, 0, err
	}
	q := &Queue{cfg: cfg, j: j, log: cfg.Logger, shadows: map[string]*shadow{}, failures: map[string]error{}}
	q.cond = sync.NewCond(&q.mu)
	q.ctx, q.stop = context.WithCancel(context.Background())
	left, err := j.Entries()
	if err != nil {
		q.log.Error("upload queue", "err", err)
	}
	q.mu.Lock()
	for _, o := range left {
		q.addLocked(o)
	}
	q.mu.Unlock()
	return q, len(left), nil
}

// Journal returns the queue's journal.
func (q *Queue) Journal() *Journal { return q.j }

// Start starts n workers.
func (q *Queue) Start(n int) {
	for i := 0; i < max(n, 1); i++ {
		q.wg.Add(1)
		go q.work()
	}
}

// related reports whether operations on a and b must keep their order:
// the same path, or one below the other.
func related(a, b string) bool {
	if a == b || a == "/" || b == "/" {
		return true
	}
	return strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}

func (o *op) paths() []string {
	if o.kind() == KindRename {
		return []string{o.Path, o.To}
	}
	return []string{o.Path}
}

func (o *op) relatedTo(p string) bool {
	for _, q := range o.paths() {
		if related(p, q) {
			return true
		}
	}
	return false
}

func (o *op) relatedOp(x *op) bool {
	for _, p := range x.paths() {
		if o.relatedTo(p) {
			return true
		}
	}
	return false
}

// addLocked schedules a journaled operation after every pending one it
// is related to, and updates the shadows.
func (q *Queue) addLocked(o Op) *op {
	q.seq++
	x := &op{Op: o, seq: q.seq, doneCh: make(chan struct{})}
	q.compactLocked()
	for _, p := range q.pending {
		if p.relatedOp(x) {
			p.dependents = append(p.dependents, x)
			x.blockers++
		}
	}
	q.pending = append(q.pending, x)
	switch x.kind() {
	case KindUpload:
		q.setShadowLocked(x.Path, &shadow{up: x, by: x})
		q.stats.uploads++
		q.stats.bytes += x.Size
		delete(q.failures, x.Path)
	case KindRename:
		if src := q.shadows[x.Path]; src != nil && src.up != nil {
			q.setShadowLocked(x.To, &shadow{up: src.up, by: x})
			q.setShadowLocked(x.Path, &shadow{by: x})
		}
	}
	if x.blockers == 0 {
		heap.Push(&q.ready, x)
		q.cond.Signal()
	}
	return x
}

// compactLocked drops ended operations from pending.
func (q *Queue) compactLocked() {
	out := q.pending[:0]
	for _, p := range q.pending {
		if p.state == queued || p.state == running {
			out = append(out, p)
		}
	}
	clear(q.pending[len(out):])
	q.pending = out
}

// setShadowLocked shows sh at p (nil: the server's view again).
func (q *Queue) setShadowLocked(p string, sh *shadow) {
	if old := q.shadows[p]; old != nil && old.up != nil {
		old.up.refs--
		q.dropDataLocked(old.up)
	}
	if sh == nil {
		delete(q.shadows, p)
		return
	}
	if sh.up != nil {
		sh.up.refs++
	}
	q.shadows[p] = sh
}

// dropDataLocked removes the data of an upload that ended and that no
// path shows any more.
func (q *Queue) dropDataLocked(u *op) {
	if u.refs == 0 && (u.state == done || u.state == canceled) {
		os.Remove(q.j.DataPath(u.ID))
	}
}

// newestRelatedLocked returns the last pending operation related to p.
func (q *Queue) newestRelatedLocked(p string) *op {
	for i := len(q.pending) - 1; i >= 0; i-- {
		if x := q.pending[i]; (x.state == queued || x.state == running) && x.relatedTo(p) {
			return x
		}
	}
	return nil
}

// Upload journals the Size bytes of src as the new content of o.Path and
// schedules their upload; the bytes are on disk when it returns. An
// earlier upload of the same path that has not started is replaced.
func (q *Queue) Upload(o Op, src io.ReaderAt) error {
	o.Kind = KindUpload
	tmp, err := q.j.writeData(o.Size, src)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		os.Remove(tmp)
		return errors.New("upload queue: closed")
	}
	old := q.newestRelatedLocked(o.Path)
	replace := old != nil && old.state == queued && old.kind() == KindUpload && old.Path == o.Path && old.refs == 1
	if replace {
		o.Attrs = old.Attrs.merge(o.Attrs)
		o.ServerHad = old.ServerHad
	}
	if o, err = q.j.commit(o, tmp); err != nil {
		return err
	}
	if replace {
		q.cancelLocked(old)
	}
	q.addLocked(o)
	return nil
}

// SetAttrs journals a mode or time for p when operations related to p
// are pending, and reports whether it did; if not, the caller sets them
// on the server itself. Attributes for a path whose upload or attributes
// have not started yet join that operation.
func (q *Queue) SetAttrs(p string, a Attrs) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	last := q.newestRelatedLocked(p)
	if last == nil {
		return false, nil
	}
	if last.state == queued && last.Path == p && last.kind() != KindRename {
		o := last.Op
		o.Attrs = o.Attrs.merge(a)
		if err := q.j.Update(o); err != nil {
			return false, err
		}
		last.Op = o
		return true, nil
	}
	o, err := q.j.Add(Op{Kind: KindAttrs, Path: p, Attrs: a}, nil)
	if err != nil {
		return false, err
	}
	q.addLocked(o)
	return true, nil
}

// Rename journals the rename of the file from to to, when from's content
// is a pending upload, and reports whether it did; if not, the caller
// waits for the related operations and renames on the server itself.
// toOnServer says whether the server has a file at to. A new file whose
// upload has not started just changes its path.
func (q *Queue) Rename(from, to string, toOnServer bool) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	src := q.shadows[from]
	if src == nil || src.up == nil {
		return false, nil
	}
	u := src.up
	if u.state == queued && src.by == u && !u.ServerHad && q.newestRelatedLocked(from) == u {
		if at, ok := q.replaceableLocked(to); ok {
			serverHas := toOnServer
			if len(at) > 0 {
				serverHas = at[0].kind() != KindUpload || at[0].ServerHad
			}
			o := u.Op
			o.Path, o.ServerHad = to, serverHas
			if err := q.j.Update(o); err != nil {
				return false, err
			}
			for _, x := range at {
				q.cancelLocked(x)
			}
			u.Op = o
			q.setShadowLocked(from, nil)
			q.setShadowLocked(to, &shadow{up: u, by: u})
			return true, nil
		}
	}
	o, err := q.j.Add(Op{Kind: KindRename, Path: from, To: to}, nil)
	if err != nil {
		return false, err
	}
	q.addLocked(o)
	return true, nil
}

// replaceableLocked returns the operations pending at p if all of them
// can be dropped because a file moved over p replaces their effect: only
// uploads and attributes of p itself that have not started, nothing
// related to p otherwise.
func (q *Queue) replaceableLocked(p string) ([]*op, bool) {
	var at []*op
	for _, x := range q.pending {
		if (x.state != queued && x.state != running) || !x.relatedTo(p) {
			continue
		}
		if x.state != queued || x.kind() == KindRename || x.Path != p || x.refs > 1 {
			return nil, false
		}
		at = append(at, x)
	}
	return at, true
}

// Forget prepares the removal of the file p (unlink): pending uploads and
// attributes of p that have not started are dropped; otherwise the
// operations at p are waited for. It reports whether p had operations
// pending, and whether the server has a file at p to remove.
func (q *Queue) Forget(ctx context.Context, p string) (had, serverHas bool, err error) {
	q.mu.Lock()
	at, ok := q.replaceableLocked(p)
	if ok && len(at) > 0 {
		serverHas = at[0].kind() != KindUpload || at[0].ServerHad
		for _, x := range at {
			q.cancelLocked(x)
		}
		q.mu.Unlock()
		return true, serverHas, nil
	}
	had = q.shadows[p] != nil || q.newestAtLocked(p) != nil
	q.mu.Unlock()
	if err := q.WaitRelated(ctx, p); err != nil {
		return had, true, err
	}
	return had, true, nil
}

// newestAtLocked returns the last pending operation on p itself.
func (q *Queue) newestAtLocked(p string) *op {
	for i := len(q.pending) - 1; i >= 0; i-- {
		x := q.pending[i]
		if (x.state == queued || x.state == running) && (x.Path == p || x.kind() == KindRename && x.To == p) {
			return x
		}
	}
	return nil
}

// cancelLocked drops an operation that has not started.
func (q *Queue) cancelLocked(x *op) {
	if err := q.j.RemoveManifest(x.ID); err != nil {
		q.log.Warn("upload queue", "err", err)
	}
	x.state = canceled
	if x.kind() == KindUpload {
		q.stats.uploads--
		q.stats.bytes -= x.Size
	}
	q.endShadowsLocked(x)
	q.releaseLocked(x)
	q.dropDataLocked(x)
	close(x.doneCh)
	q.cond.Broadcast()
}

// endShadowsLocked removes the shadows x put up.
func (q *Queue) endShadowsLocked(x *op) {
	for p, sh := range q.shadows {
		if sh.by == x {
			q.setShadowLocked(p, nil)
		}
	}
}

// releaseLocked unblocks the dependents of an operation that ended.
func (q *Queue) releaseLocked(x *op) {
	for _, d := range x.dependents {
		d.blockers--
		if d.blockers == 0 && d.state == queued {
			heap.Push(&q.ready, d)
			q.cond.Signal()
		}
	}
	x.dependents = nil
}

// Pending reports whether operations on p itself are pending.
func (q *Queue) Pending(p string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shadows[p] != nil || q.newestAtLocked(p) != nil
}

// Related reports whether operations related to p are pending.
func (q *Queue) Related(p string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.newestRelatedLocked(p) != nil
}

// WaitRelated waits until every operation related to one of paths that is
// pending now has ended.
func (q *Queue) WaitRelated(ctx context.Context, paths ...string) error {
	q.mu.Lock()
	var wait []*op
	for _, x := range q.pending {
		if x.state != queued && x.state != running {
			continue
		}
		for _, p := range paths {
			if x.relatedTo(p) {
				wait = append(wait, x)
				break
			}
		}
	}
	q.mu.Unlock()
	return waitAll(ctx, wait)
}

func waitAll(ctx context.Context, ops []*op) error {
	for _, x := range ops {
		select {
		case <-x.doneCh:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Wait waits for the operations pending on p itself (fsync) and returns
// the failure of an upload of p not yet reported, once.
func (q *Queue) Wait(ctx context.Context, p string) error {
	q.mu.Lock()
	var wait []*op
	for _, x := range q.pending {
		if (x.state == queued || x.state == running) && (x.Path == p || x.kind() == KindRename && x.To == p) {
			wait = append(wait, x)
		}
	}
	q.mu.Unlock()
	if err := waitAll(ctx, wait); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	err := q.failures[p]
	delete(q.failures, p)
	return err
}

// Data opens the pending content of p, if p shows a queued upload's data,
// and returns it with its size.
func (q *Queue) Data(p string) (*os.File, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sh := q.shadows[p]
	if sh == nil || sh.up == nil {
		return nil, 0
	}
	f, err := os.Open(q.j.DataPath(sh.up.ID))
	if err != nil {
		return nil, 0
	}
	return f, sh.up.Size
}

// Shown is a path's pending state, as Overlay gives it.
type Shown struct {
	Name    string
	Gone    bool      // renamed away: hide it
	Size    int64     // else a file of Size bytes
	ModTime time.Time // and this time
}

// Overlay returns the pending state of the entries of dir, to lay over a
// listing of it the server gave.
func (q *Queue) Overlay(dir string) []Shown {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Shown
	for p, sh := range q.shadows {
		if parent(p) != dir {
			continue
		}
		s := Shown{Name: p[strings.LastIndexByte(p, '/')+1:], Gone: sh.up == nil}
		if u := sh.up; u != nil {
			s.Size, s.ModTime = u.Size, u.Changed
			if u.HasTime {
				s.ModTime = u.ModTime
			}
		}
		out = append(out, s)
	}
	return out
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// work runs operations until the queue is closed.
func (q *Queue) work() {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		for q.ready.Len() == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		x := heap.Pop(&q.ready).(*op)
		if x.state != queued {
			q.mu.Unlock()
			continue
		}
		x.state, x.started = running, time.Now()
		o := x.Op
		q.mu.Unlock()
		q.run(x, o)
	}
}

// run carries one operation to the server, trying again while its
// failure is transient.
func (q *Queue) run(x *op, o Op) {
	for {
		applied, err := q.exec(x, o)
		switch {
		case err == nil:
			q.end(x, done, applied, nil)
			return
		case q.ctx.Err() != nil:
			// Shutting down: it stays in the journal for the next mount.
			return
		case q.cfg.Transient(err):
			q.log.Warn("queued operation failed; trying again", "op", string(o.kind()), "path", o.Path, "err", err, "pause", q.cfg.RetryPause)
			select {
			case <-time.After(q.cfg.RetryPause):
			case <-q.ctx.Done():
				return
			}
		default:
			q.fail(x, o, err)
			return
		}
	}
}

func (q *Queue) exec(x *op, o Op) (Applied, error) {
	switch o.kind() {
	case KindAttrs:
		return q.cfg.Store.SetAttrs(q.ctx, o.Path, o.Attrs)
	case KindRename:
		return Applied{}, q.cfg.Store.Rename(q.ctx, o.Path, o.To)
	}
	f, err := os.Open(q.j.DataPath(o.ID))
	if err != nil {
		return Applied{}, fmt.Errorf("upload queue: %w", err)
	}
	defer f.Close()
	x.sent.Store(0)
	return q.cfg.Store.Upload(q.ctx, o, &progressReader{r: f, n: &x.sent})
}

// progressReader counts the bytes of an upload read so far.
type progressReader struct {
	r io.ReaderAt
	n *atomic.Int64
}

func (p *progressReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.r.ReadAt(b, off)
	if end := off + int64(n); end > p.n.Load() {
		p.n.Store(end)
	}
	return n, err
}

// end records the end of an operation that ran.
func (q *Queue) end(x *op, st state, applied Applied, err error) {
	if st == done {
		if rerr := q.j.RemoveManifest(x.ID); rerr != nil {
			q.log.Warn("upload queue", "err", rerr)
		}
	}
	q.mu.Lock()
	x.state, x.err = st, err
	if x.kind() == KindUpload {
		q.stats.uploads--
		q.stats.bytes -= x.Size
		if st == done {
			q.stats.sinceEmpty++
		}
	}
	if st == done {
		q.stats.done++
	}
	if st == failed && x.kind() == KindUpload {
		q.failures[x.Path] = err
		for p, sh := range q.shadows {
			if sh.up == x {
				q.setShadowLocked(p, nil)
			}
		}
	}
	q.endShadowsLocked(x)
	q.dropDataLocked(x)
	q.releaseLocked(x)
	q.compactLocked()
	drained := len(q.pending) == 0
	n := q.stats.sinceEmpty
	if drained {
		q.stats.sinceEmpty = 0
	}
	q.cond.Broadcast()
	q.mu.Unlock()
	if q.cfg.Done != nil {
		q.cfg.Done(x.Op, applied, err)
	}
	close(x.doneCh)
	if drained && n > 0 {
		q.log.Info(fmt.Sprintf("all %d queued uploads are on the server", n))
	}
}

// fail gives up on an operation the server refused. An upload's data is
// kept under the unsaved directory (or, failing that, beside the journal),
// never removed, and the log says where; Wait reports the error.
func (q *Queue) fail(x *op, o Op, err error) {
	if o.kind() != KindUpload {
		q.log.Warn("queued operation failed", "op", string(o.kind()), "path", o.Path, "to", o.To, "err", err)
		if rerr := q.j.RemoveManifest(x.ID); rerr != nil {
			q.log.Warn("upload queue", "err", rerr)
		}
		q.end(x, failed, Applied{}, err)
		return
	}
	kept, kerr := q.keep(o)
	if kerr != nil {
		// The data could not be moved: its entry stays in the journal, and
		// the next mount tries it again.
		q.log.Error("queued upload failed, and its data could not be moved; it stays queued", "path", o.Path, "err", err, "keep_err", kerr, "data", kept)
	} else {
		if rerr := q.j.RemoveManifest(x.ID); rerr != nil {
			q.log.Warn("upload queue", "err", rerr)
		}
		q.log.Error("queued upload failed; the data is kept locally", "path", o.Path, "bytes", o.Size, "err", err, "copy", kept)
	}
	q.mu.Lock()
	q.stats.kept++
	q.mu.Unlock()
	q.end(x, failed, Applied{}, err)
}

// keep moves a failed upload's data to the unsaved directory, or beside
// the journal under a name that marks it kept. It returns where the data
// is, and an error only if it is still where it was.
func (q *Queue) keep(o Op) (string, error) {
	data := q.j.DataPath(o.ID)
	dst, err := cache.KeepFile(data, q.cfg.Unsaved, o.Path)
	if err == nil {
		return dst, nil
	}
	q.log.Warn("cannot move a failed upload's data to the unsaved directory", "dir", q.cfg.Unsaved, "err", err)
	beside := filepath.Join(q.j.dir, o.ID+keptSuffix)
	if rerr := os.Rename(data, beside); rerr != nil {
		return data, rerr
	}
	return beside, nil
}

// Drain waits until nothing is pending or ctx ends, then stops the
// workers and waits for them. It returns how many operations are left in
// the journal for the next mount.
func (q *Queue) Drain(ctx context.Context) int {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	for q.activeLocked() > 0 && ctx.Err() == nil {
		q.cond.Wait()
	}
	left := q.activeLocked()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	q.stop()
	q.wg.Wait()
	if err := q.j.Close(); err != nil {
		q.log.Warn("upload queue", "err", err)
	}
	return left
}

func (q *Queue) activeLocked() int {
	q.compactLocked()
	return len(q.pending)
}

// Len returns how many operations are pending.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.activeLocked()
}

// Transfer is an upload in flight.
type Transfer struct {
	Path    string
	Size    int64 // bytes in all
	Sent    int64 // bytes read for sending so far
	Started time.Time
}

// Status is a snapshot of the queue.
type Status struct {
	Ops     int   // operations pending
	Uploads int   // uploads pending
	Bytes   int64 // their bytes
	Done    int   // operations done by this mount
	Kept    int   // uploads that failed and were kept locally by this mount
	Running []Transfer
}

// Status returns a snapshot of the queue.
func (q *Queue) Status() Status {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Status{Ops: q.activeLocked(), Uploads: q.stats.uploads, Bytes: q.stats.bytes, Done: q.stats.done, Kept: q.stats.kept}
	for _, x := range q.pending {
		if x.state == running && x.kind() == KindUpload {
			s.Running = append(s.Running, Transfer{Path: x.Path, Size: x.Size, Sent: x.sent.Load(), Started: x.started})
		}
	}
	return s
}

// opHeap orders ready operations by their place in the journal.
type opHeap []*op

func (h opHeap) Len() int           { return len(h) }
func (h opHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h opHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *opHeap) Push(x any)        { *h = append(*h, x.(*op)) }
func (h *opHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}
