package conn

import (
	"context"
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
//
// An operation made while the server is unreachable hurries the probe:
// it dials at once if its last dial is a second old or more, or, when that
// last dial was refused (the host answers, nothing listens), 100 ms old or
// more (probeRefusedEvery), and the operation waits for the new dial, up
// to probeAsk: a refusal comes back within a round trip and so does a
// login, so the first operation after the server is back succeeds, and
// the others fail in milliseconds. After a timeout the operation does not
// wait, since the dial may take the whole Config.Timeout.

// Probe pacing: the first probe a second after the server was found
// unreachable, then doubling up to a probe every probeMax.
const (
	probeFirst = time.Second
	probeMax   = 30 * time.Second
)

// probeAsk is how long an operation waits for a dial it hurried.
const probeAsk = time.Second

// probeRefusedEvery is how often operations may hurry a dial while
// connects are refused: a refused connect costs the host one round trip,
// and with a second between dials an operation made just after a restart
// failed (the last dial, 0.9 s before, had been refused; a fresh tester,
// pure-ftpd and vsftpd). Operations closer together than this fail at
// once.
const probeRefusedEvery = 100 * time.Millisecond

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

// whileDown is get's answer while the server is unreachable: nil when a
// dial it hurried found the server back, else ErrUnreachable.
func (p *Pool) whileDown(ctx context.Context) error {
	p.mu.Lock()
	every := probeFirst
	if p.downRefused {
		every = probeRefusedEvery
	}
	due := time.Since(p.lastDial) >= every
	dialed, refused := p.dialed, p.downRefused
	since, cause := p.down, p.downCause
	p.mu.Unlock()
	if since.IsZero() {
		return nil // left just now
	}
	if due {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	if due && refused {
		t := time.NewTimer(probeAsk)
		select {
		case <-dialed:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		p.mu.Lock()
		since, cause = p.down, p.downCause
		p.mu.Unlock()
		if since.IsZero() {
			return nil
		}
	}
	return p.unreachableError(since, cause)
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
	p.downRefused = errors.Is(cause, syscall.ECONNREFUSED)
	p.lastDial = time.Now() // the operation's own dial, just failed
	p.downFlag.Store(true)
	start := !p.probing
	if start {
		p.probing = true
		p.probes.Add(1)
	}
	p.mu.Unlock()
	p.cfg.Logger.Warn(fmt.Sprintf("server unreachable since %s; operations fail at once until it answers", since.Format(time.TimeOnly)),
		"server", p.cfg.addr(), "op", op, "path", path, "err", cause)
	if start {
		go p.probe()
	}
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

// probe dials, with a backoff, while the server is unreachable and the
// pool open.
func (p *Pool) probe() {
	defer p.probes.Done()
	backoff := probeFirst
	for {
		if !p.keepProbing() || !p.probeWait(time.Now().Add(backoff)) {
			return
		}
		p.mu.Lock()
		p.lastDial = time.Now()
		dialed := p.dialed
		p.mu.Unlock()
		s, err := dial(p.probeCtx, &p.cfg, p.q, &p.cmds)
		switch {
		case p.probeCtx.Err() != nil:
			if s != nil {
				s.close()
			}
		case err == nil:
			p.reachable(s)
		case !connectFailure(err):
			// A reply (a session limit, a refused login): the server is
			// there, and operations will get its answer themselves.
			p.reachable(nil)
		default:
			backoff = min(2*backoff, probeMax)
			p.cfg.Logger.Debug("server still unreachable", "server", p.cfg.addr(), "next_probe", backoff, "err", err)
		}
		p.mu.Lock()
		p.downRefused = errors.Is(err, syscall.ECONNREFUSED)
		p.dialed = make(chan struct{})
		p.mu.Unlock()
		close(dialed)
	}
}

// keepProbing reports whether the server is still unreachable; when it is
// not, the probe ends, and the next markUnreachable starts another.
func (p *Pool) keepProbing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down.IsZero() || p.closed {
		p.probing = false
		return false
	}
	return true
}

// probeWait sleeps until next, or less when an operation hurries it (but
// a second at least since the last dial, 100 ms after a refused one);
// false when the pool closes.
func (p *Pool) probeWait(next time.Time) bool {
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-p.probeCtx.Done():
			t.Stop()
			return false
		case <-t.C:
			return true
		case <-p.kick:
			t.Stop()
			p.mu.Lock()
			every := probeFirst
			if p.downRefused {
				every = probeRefusedEvery
			}
			earliest := p.lastDial.Add(every)
			p.mu.Unlock()
			if earliest.Before(next) {
				next = earliest
			}
		}
	}
}

// stopProbe stops the probe, if one runs, and waits for it; part of Close.
func (p *Pool) stopProbe() {
	p.probeCancel()
	p.probes.Wait()
}
