package conn

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Health is what the pool knows of the server, for ftpfs status.
type Health struct {
	Sessions    int       // control connections open (idle or in use)
	LastOK      time.Time // the last command that succeeded
	LastFailure time.Time // the last that failed for a transient reason
	Failure     string    // and why
	// UnreachableSince, when set, is when connects began to fail before
	// the pool called the server unreachable: operations fail at once
	// while a probe dials (reach.go).
	UnreachableSince time.Time
}

// Reachable reports whether the server answered since it last failed,
// and is not called unreachable.
func (h Health) Reachable() bool {
	return h.UnreachableSince.IsZero() && !h.LastOK.Before(h.LastFailure)
}

// health records successes and transient failures.
type health struct {
	mu      sync.Mutex
	ok      time.Time // guarded by mu
	failed  time.Time // guarded by mu
	failure string    // guarded by mu
}

// note records the outcome of one attempt. Refusals say nothing about
// reachability: the server answered. An operation refused at once as the
// server is unreachable says nothing new.
func (h *health) note(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnreachable) {
		return
	}
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil || !IsTransient(err):
		h.ok = now
	default:
		h.failed, h.failure = now, err.Error()
	}
}

// Health returns a snapshot of the pool's view of the server.
func (p *Pool) Health() Health {
	p.health.mu.Lock()
	h := Health{LastOK: p.health.ok, LastFailure: p.health.failed, Failure: p.health.failure}
	p.health.mu.Unlock()
	p.mu.Lock()
	h.Sessions = len(p.idle) + len(p.tokens) - p.shrunk
	h.UnreachableSince = p.down
	p.mu.Unlock()
	return h
}
