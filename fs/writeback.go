package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
	"github.com/ftpfs/ftpfs/writeback"
)

// With -o writeback, close(2) returns once a file's bytes are on local
// disk, in the journal of package writeback, which uploads them in the
// background. What an application does next to the same path, or to a
// directory above or below it (chmod, utimens, rename), is journaled
// behind the upload when it would otherwise overtake it, so that the
// server ends as the synchronous mode would leave it. Until then a queued
// file reads from the journal and lists with its queued size and time;
// fsync(2) waits for its upload and reports its error; unlink drops an
// upload that has not started. Operations that the journal does not carry
// (mkdir, rmdir, unlink, a directory's rename) wait for the journaled ones
// they are related to, then run at once. This file is the thin adapter
// between the journal and the node tree.

// wbQueue is the journal of a mount; nil without writeback and without
// uploads left by an earlier mount. Its methods are safe on a nil
// receiver, which has nothing pending.
type wbQueue struct {
	f *fsys
	q *writeback.Queue

	drainOnce sync.Once
	left      int // what the drain left in the journal
}

// openWriteback opens the journal in dir. It returns nil when the mount
// is not in writeback mode and nothing is left in the journal.
func openWriteback(f *fsys, dir, unsaved string) (*wbQueue, error) {
	w := &wbQueue{f: f}
	q, left, err := writeback.Open(writeback.Config{
		Dir: dir, Unsaved: unsaved, Store: wbStore{f}, Logger: f.log,
		Transient: retryable,
		Done:      w.done,
	})
	if errors.Is(err, writeback.ErrInUse) && !f.opts.Writeback {
		// Another mount of this server resumes it.
		f.log.Debug("upload queue held by another mount", "queue", dir)
		return nil, nil
	}
	if errors.Is(err, writeback.ErrInUse) {
		return nil, fmt.Errorf("%w (a second writeback mount of the same server and user needs its own -o cache_dir=)", err)
	}
	if err != nil {
		return nil, err
	}
	w.q = q
	if left > 0 {
		f.log.Info("resuming uploads queued by an earlier mount", "operations", left, "queue", dir, "writeback_mode", f.opts.Writeback)
	} else if !f.opts.Writeback {
		q.Drain(context.Background())
		return nil, nil
	}
	return w, nil
}

// retryable reports a failure after which a journaled operation is tried
// again later: a transient one, or the server unreachable (the pool fails
// operations at once until its probe finds it back), which must not make
// the queue give the data up.
func retryable(err error) bool {
	return errors.Is(err, conn.ErrTransient) || errors.Is(err, conn.ErrUnreachable)
}

// wbStore carries journaled operations to the server.
type wbStore struct{ f *fsys }

func (s wbStore) Upload(ctx context.Context, o writeback.Op, data io.ReaderAt) (writeback.Applied, error) {
	applied, err := s.f.remote.Store(ctx, o.Path, data, o.Size, connAttrs(o.Attrs))
	return writeback.Applied{Mode: applied.Mode, Time: applied.Time}, err
}

// SetAttrs sends a mode, then a time (some servers reset times on SITE
// CHMOD). What the server cannot store stays shown by ftpfs, as in the
// synchronous mode: that is not a failure.
func (s wbStore) SetAttrs(ctx context.Context, p string, a writeback.Attrs) (writeback.Applied, error) {
	if r, ok := s.f.remote.(attrSetter); ok {
		// Both in one round trip.
		applied, err := r.SetAttrs(ctx, p, connAttrs(a))
		return writeback.Applied{Mode: applied.Mode, Time: applied.Time}, err
	}
	var applied writeback.Applied
	if a.HasMode {
		err := s.f.remote.Chmod(ctx, p, a.Mode)
		switch {
		case err == nil:
			applied.Mode = true
		case retryable(err):
			return applied, err
		case !errors.Is(err, conn.ErrNotSupported):
			s.f.log.Debug("the server did not take the mode; ftpfs keeps showing it", "path", p, "err", err)
		}
	}
	if a.HasTime {
		err := s.f.remote.SetTime(ctx, p, a.ModTime)
		switch {
		case err == nil:
			applied.Time = true
		case retryable(err):
			return applied, err
		case !errors.Is(err, conn.ErrNotSupported):
			// vsftpd and pyftpdlib set times on files only.
			s.f.log.Debug("the server did not take the time; ftpfs keeps showing it", "path", p, "err", err)
		}
	}
	return applied, nil
}

// attrSetter is a Remote that sets a mode and a time in one round trip,
// as *conn.Pool does.
type attrSetter interface {
	SetAttrs(ctx context.Context, path string, a conn.Attrs) (conn.Applied, error)
}

// Rename renames over a file at to; a server that will not overwrite
// (proftpd without AllowOverwrite) gets it removed first.
func (s wbStore) Rename(ctx context.Context, from, to string) error {
	err := s.f.remote.Rename(ctx, from, to)
	if err == nil || retryable(err) {
		return err
	}
	if derr := s.f.remote.Delete(ctx, to); derr != nil {
		return err
	}
	return s.f.remote.Rename(ctx, from, to)
}

func connAttrs(a writeback.Attrs) conn.Attrs {
	return conn.Attrs{Mode: a.Mode, HasMode: a.HasMode, ModTime: a.ModTime, HasTime: a.HasTime,
		InPlace: a.HasMode && a.Mode&0o200 == 0}
}

func wbAttrs(a conn.Attrs) writeback.Attrs {
	return writeback.Attrs{Mode: a.Mode, HasMode: a.HasMode, ModTime: a.ModTime, HasTime: a.HasTime}
}

// done brings the caches up to date once an operation has ended: what
// the server took of a mode or time is the server's to show from then on.
func (w *wbQueue) done(o writeback.Op, applied writeback.Applied, err error) {
	switch {
	case err != nil && o.Kind == writeback.KindUpload:
		// The server has the old file or none: ask it again.
		w.f.meta.Invalidate(cache.Parent(o.Path))
	case err == nil && o.Kind != writeback.KindRename:
		w.f.settlePending(o.Path, connAttrs(o.Attrs), conn.Applied{Mode: applied.Mode, Time: applied.Time})
	}
}

func (w *wbQueue) start(workers int) {
	if w != nil {
		w.q.Start(workers)
	}
}

// enqueue journals the size bytes of src as the new content of p.
func (w *wbQueue) enqueue(p string, size int64, src io.ReaderAt, a conn.Attrs, serverHad bool, changed time.Time) error {
	return w.q.Upload(writeback.Op{Path: p, Size: size, Attrs: wbAttrs(a), ServerHad: serverHad, Changed: changed}, src)
}

// pendingAt reports whether operations on p itself are journaled.
func (w *wbQueue) pendingAt(p string) bool {
	return w != nil && w.q.Pending(p)
}

// related reports whether operations on p, above or below it are
// journaled.
func (w *wbQueue) related(p string) bool {
	return w != nil && w.q.Related(p)
}

// setAttrs journals a mode or time for p if it must follow journaled
// operations, and reports whether it did.
func (w *wbQueue) setAttrs(p string, a conn.Attrs) (bool, error) {
	if w == nil {
		return false, nil
	}
	return w.q.SetAttrs(p, wbAttrs(a))
}

// rename journals the rename of a file whose content is journaled, and
// reports whether it did.
func (w *wbQueue) rename(from, to string, toOnServer bool) (bool, error) {
	if w == nil {
		return false, nil
	}
	return w.q.Rename(from, to, toOnServer)
}

// waitRelated waits for the journaled operations on paths, above them
// and below them: an operation done at once must not overtake them.
func (w *wbQueue) waitRelated(ctx context.Context, paths ...string) error {
	if w == nil {
		return nil
	}
	return w.q.WaitRelated(ctx, paths...)
}

// wait waits for the journaled operations on p and returns the failure of
// its upload, once.
func (w *wbQueue) wait(ctx context.Context, p string) error {
	if w == nil {
		return nil
	}
	return w.q.Wait(ctx, p)
}

// forget is for p's removal (unlink): a journaled upload that has not
// started is dropped. It reports whether p had operations journaled, and
// if so whether the server holds a file at p.
func (w *wbQueue) forget(ctx context.Context, p string) (had, serverHas bool, err error) {
	if w == nil {
		return false, false, nil
	}
	return w.q.Forget(ctx, p)
}

// openData opens the journaled content of p, if p shows one.
func (w *wbQueue) openData(p string) (*os.File, int64) {
	if w == nil {
		return nil, 0
	}
	return w.q.Data(p)
}

// overlay lays the journal's view of dir over its listing l, fetched from
// the server, which has not seen those operations yet.
func (w *wbQueue) overlay(dir string, l *cache.Listing[conn.Entry]) {
	if w == nil {
		return
	}
	for _, s := range w.q.Overlay(dir) {
		if s.Gone {
			l.Delete(s.Name)
			continue
		}
		e := conn.Entry{Name: s.Name, Type: conn.TypeFile, Size: s.Size, ModTime: s.ModTime, HasTime: true}
		if old, ok := l.Get(e.Name); ok && old.Type == conn.TypeFile && old.Size == e.Size && old.ModTime.Equal(e.ModTime) {
			continue
		}
		if old, ok := l.Get(e.Name); ok {
			e.Perm, e.HasPerm = old.Perm, old.HasPerm
		}
		l.Set(e.Name, e)
	}
}

// drain waits until the journal is empty or ctx ends, then stops its
// workers. It returns how many operations are left for the next mount;
// the first call drains, later ones return what it left.
func (w *wbQueue) drain(ctx context.Context) int {
	if w == nil {
		return 0
	}
	w.drainOnce.Do(func() { w.left = w.q.Drain(ctx) })
	return w.left
}

// pending returns how many operations are journaled.
func (w *wbQueue) pending() int {
	if w == nil {
		return 0
	}
	return w.q.Len()
}

// enqueue journals the content for upload, in writeback mode; the
// server's bytes it lacks (a partial rewrite) are fetched first. Called
// with cmu held.
func (n *fileNode) enqueue(ctx context.Context) error {
	c, p := n.content, n.remotePath()
	size := c.size()
	if err := c.fill(ctx, n.fs.remote, p, 0, size); err != nil {
		return err
	}
	a := withShownTime(n.uploadAttrs(p), c.mtime)
	if err := n.fs.wb.enqueue(p, size, c.buf, a, c.onServer || n.fs.wb.pendingAt(p), c.mtime); err != nil {
		return err
	}
	// From here on the journal owns the upload and orders what follows.
	c.uploaded(size)
	ent := n.getEntry()
	ent.Type, ent.Size, ent.ModTime, ent.HasTime = conn.TypeFile, size, serverTime(a.ModTime), true
	n.setEntry(ent)
	n.publish()
	n.fs.cacheUpdate(p, ent)
	n.fs.dirChanged(cache.Parent(p))
	return nil
}
