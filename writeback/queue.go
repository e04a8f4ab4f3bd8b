package writeback

import (
	"container/heap"
	"context"
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
	closing  bool               // guarded by mu; Drain is waiting
	busy     time.Time          // guarded by mu; when the queue last stopped being empty
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
	q.moveKept()
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
	if len(q.pending) == 0 {
		q.busy = time.Now()
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

// newestRelatedLocked returns the last pending operation related to p.
func (q *Queue) newestRelatedLocked(p string) *op {
	for i := len(q.pending) - 1; i >= 0; i-- {
		if x := q.pending[i]; (x.state == queued || x.state == running) && x.relatedTo(p) {
			return x
		}
	}
	return nil
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
// failure is transient. Its first failure is logged at WARN and the
// following ones at DEBUG: with the server unreachable each attempt fails
// at once, and a line every RetryPause for each operation waiting would
// bury the one line that says the server is gone.
func (q *Queue) run(x *op, o Op) {
	for tries := 0; ; tries++ {
		applied, err := q.exec(x, o)
		switch {
		case err == nil:
			q.end(x, done, applied, nil)
			return
		case q.ctx.Err() != nil:
			// Shutting down: it stays in the journal for the next mount.
			return
		case q.cfg.Transient(err):
			level := slog.LevelWarn
			if tries > 0 {
				level = slog.LevelDebug
			}
			q.log.Log(q.ctx, level, "queued operation failed; trying again", "op", string(o.kind()), "path", o.Path, "err", err, "pause", q.cfg.RetryPause, "tries", tries+1)
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
	// Worth a line where someone may be waiting: after a busy spell, or
	// at the unmount; a burst of a few files drains unremarked.
	level := slog.LevelDebug
	if q.closing || time.Since(q.busy) >= 2*time.Second {
		level = slog.LevelInfo
	}
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
		q.log.Log(context.Background(), level, fmt.Sprintf("all %d queued uploads are on the server", n))
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
	// The name says which server path it was for; the next Open moves it
	// to the unsaved directory if it can.
	beside := filepath.Join(q.j.dir, o.ID+"-"+cache.FlatName(o.Path, 150)+keptSuffix)
	if rerr := os.Rename(data, beside); rerr != nil {
		return data, rerr
	}
	return beside, nil
}

// moveKept moves the data of failed uploads that an earlier mount could
// only keep beside the journal into the unsaved directory, where users
// look for it.
func (q *Queue) moveKept() {
	ents, err := os.ReadDir(q.j.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), keptSuffix)
		if !ok {
			continue
		}
		_, flat, _ := strings.Cut(name, "-") // after the ID's time
		_, flat, _ = strings.Cut(flat, "-")  // and its sequence number
		path := cache.UnflatName(flat)
		src := filepath.Join(q.j.dir, e.Name())
		if dst, err := cache.KeepFile(src, q.cfg.Unsaved, path); err == nil {
			q.log.Warn("a failed upload kept beside the journal is now in the unsaved directory", "path", path, "copy", dst)
		} else {
			q.log.Warn("a failed upload is kept beside the journal", "path", path, "copy", src, "err", err)
		}
	}
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
	q.closing = true
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
