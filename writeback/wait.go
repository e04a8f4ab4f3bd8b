package writeback

import "context"

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
