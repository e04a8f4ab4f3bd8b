package writeback

import (
	"context"
	"errors"
	"io"
	"os"
)

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
