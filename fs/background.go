package fs

import (
	"context"
	"sync"
)

// background is the mount's work that no FUSE request waits for: listing
// ahead, small-file read-ahead and upload streams that run alongside the
// writes. It runs under a context that close cancels, and close waits for
// it, so that nothing of the mount outlives it.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool // guarded by mu; no new work starts
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// start runs fn on a goroutine of its own with the mount's context, and
// reports whether it did: after close it does not.
func (b *background) start(fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
	return true
}

// close cancels the work under way and waits for it to end. Work blocked
// on the network ends at its next deadline (conn's timeout) at the latest.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}
