package conn

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// A server that is gone. An operation retries failures to connect (no TCP
// connection, no greeting, a connection dropped during the login) like any
// transient failure, for Config.RetryTimeout. When those retries are spent,
// or when every connect was refused (ECONNREFUSED) for refusedGrace, the
// pool calls the server unreachable: from then on operations fail at once
// with ErrUnreachable instead of each waiting out its own retries, and a
// probe owned by the pool dials with a backoff until a login succeeds. The
// session it logged in with goes to the idle list, and the next operation
// uses it. One line at WARN marks the start and one at INFO the end.

// Probe pacing: the first probe a second after the server was found
// unreachable, then doubling up to a probe every probeMax.
const (
	probeFirst = time.Second
	probeMax   = 30 * time.Second
)

// refusedGrace is how long connects must all have been refused before the
// server is called unreachable, when that is shorter than RetryTimeout. A
// refused connection is the host's answer that nothing listens on the
// port: a server that restarts listens again well within it (vsftpd,
// pure-ftpd and proftpd in under a second), while a host that is down or
// filtered (timeouts) is waited for the whole RetryTimeout, since a
// network can come back.
const refusedGrace = 5 * time.Second

// connectFailure reports an attempt that failed before the server said
// anything: the dial, the greeting or the login cut off below the
// protocol. A reply (421 for too many sessions, 530) is an answer and is
// not one.
func connectFailure(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Op == "connect" || e.Op == "login") && e.Code == 0 && isNetErr(e.Err)
}

// connectTrack follows one operation's run of failures to connect.
type connectTrack struct {
	since   time.Time // the first of the failures to connect in a row; zero after any other outcome
	refused time.Time // the first of the refused connects in a row
}

// note records the outcome of one attempt.
func (c *connectTrack) note(err error) {
	if !connectFailure(err) {
		*c = connectTrack{}
		return
	}
	now := time.Now()
	if c.since.IsZero() {
		c.since = now
	}
	switch {
	case !errors.Is(err, syscall.ECONNREFUSED):
		c.refused = time.Time{}
	case c.refused.IsZero():
		c.refused = now
	}
}

// refusedFor reports whether every connect was refused for at least d.
func (c *connectTrack) refusedFor(d time.Duration) bool {
	return !c.refused.IsZero() && time.Since(c.refused) >= d
}

// unreachableError is what operations get while the server is unreachable.
func (p *Pool) unreachableError(since time.Time, cause string) error {
	return &Error{Op: "connect", Path: p.cfg.addr(), Err: ErrUnreachable,
		Msg: fmt.Sprintf("server unreachable since %s (%s); not tried again until it answers", since.Format(time.TimeOnly), cause)}
}

// markUnreachable enters the unreachable state, unless the pool is in it
// already or closed, and starts the probe. since is when connects began
// to fail; op and path are the operation that found out, for the log.
func (p *Pool) markUnreachable(since time.Time, op, path string, cause error) {
	p.mu.Lock()
	if p.closed || !p.down.IsZero() {
		p.mu.Unlock()
		return
	}
	p.down, p.downCause = since, cause.Error()
	p.downFlag.Store(true)
	p.probes.Add(1)
	p.mu.Unlock()
	p.cfg.Logger.Warn(fmt.Sprintf("server unreachable since %s; operations fail at once until it answers", since.Format(time.TimeOnly)),
		"server", p.cfg.addr(), "op", op, "path", path, "err", cause)
	go p.probe()
}

// answered leaves the unreachable state after a command was answered on a
// session opened before it: no need to wait for the probe.
func (p *Pool) answered() {
	if p.downFlag.Load() {
		p.reachable(nil)
	}
}

// reachable leaves the unreachable state, keeping s (the probe's session,
// or nil) for the next operation.
func (p *Pool) reachable(s *Session) {
	p.mu.Lock()
	since := p.down
	p.down, p.downCause = time.Time{}, ""
	p.downFlag.Store(false)
	keep := s != nil && !p.closed && len(p.idle) < cap(p.tokens)
	if keep {
		p.idle = append(p.idle, s)
	}
	p.mu.Unlock()
	if s != nil && !keep {
		s.close()
	}
	if since.IsZero() {
		return
	}
	p.health.note(nil)
	p.cfg.Logger.Info(fmt.Sprintf("server reachable again after %s", time.Since(since).Round(time.Second)), "server", p.cfg.addr())
}

// probe dials, with a backoff, until the server answers or the pool
// closes. It ends early when an operation on an older session was
// answered meanwhile.
func (p *Pool) probe() {
	defer p.probes.Done()
	wait := probeFirst
	for {
		t := time.NewTimer(wait)
		select {
		case <-p.probeCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !p.downFlag.Load() {
			return
		}
		s, err := dial(p.probeCtx, &p.cfg, p.q, &p.cmds)
		switch {
		case p.probeCtx.Err() != nil:
			if s != nil {
				s.close()
			}
			return
		case err == nil:
			p.reachable(s)
			return
		case !connectFailure(err):
			// A reply (a session limit, a refused login): the server is
			// there, and operations will get its answer themselves.
			p.reachable(nil)
			return
		}
		p.cfg.Logger.Debug("server still unreachable", "server", p.cfg.addr(), "next_probe", min(2*wait, probeMax), "err", err)
		wait = min(2*wait, probeMax)
	}
}

// stopProbe stops the probe, if one runs, and waits for it; part of Close.
func (p *Pool) stopProbe() {
	p.probeCancel()
	p.probes.Wait()
}
