package conn

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// idleCheck is how long a session may sit idle before the pool checks it
// with NOOP on reuse: servers and firewalls drop idle connections, and a
// NOOP costs one round trip where a failed transfer costs a retry.
const idleCheck = 15 * time.Second

// idleClose is how long an unused session stays open: below the idle
// timeouts servers use (vsftpd 300 s, pure-ftpd and proftpd longer), so the
// pool closes it politely before the server drops it, and costs the server
// nothing while the mount is idle.
const idleClose = 60 * time.Second

// Pool hands out logged-in sessions, at most Config.Connections at once.
// It is safe for concurrent use.
type Pool struct {
	cfg  Config
	q    quirks
	cmds atomic.Int64 // commands sent over all sessions
	cc   codec        // the server's character set for names

	tokens chan struct{} // a token per session that may exist
	health health

	mu     sync.Mutex
	idle   []*Session         // guarded by mu; most recently used last
	files  map[*File]struct{} // guarded by mu; files holding a stream
	closed bool               // guarded by mu
	shrunk int                // guarded by mu; tokens kept back after session-limit refusals

	// The unreachable state (reach.go): down is when connects began to
	// fail, zero while the server is reachable; downFlag mirrors it for
	// the path of every operation.
	down        time.Time // guarded by mu
	downCause   string    // guarded by mu
	downRefused bool      // guarded by mu; the last dial was refused (ECONNREFUSED)
	downFlag    atomic.Bool
	probing     bool          // guarded by mu; a probe runs
	lastDial    time.Time     // guarded by mu; the last dial that found or probed the state
	dialed      chan struct{} // guarded by mu; closed when the probe's next dial ends
	kick        chan struct{} // an operation asks the probe to dial now
	// probeCtx ends the probe's dial at Close; probes counts the probe
	// that runs (zero or one).
	probeCtx    context.Context
	probeCancel context.CancelFunc
	probes      sync.WaitGroup

	stopJanitor chan struct{}
	janitorDone chan struct{}

	// spare counts the background dials of spare sessions (dialSpare);
	// spareBusy is set while startSpare's runs.
	spare     sync.WaitGroup
	spareBusy atomic.Bool

	// digestRate and lateRename, when set (by tests), replace the consts
	// digestRate and lateRenameSize.
	digestRate float64
	lateRename int64
	// par, when set (by tests), replaces parallel reads' constants.
	par parallelTuning
}

// lateRenameSize is the size from which an upload checked by digest is
// renamed over its target in a flight of its own, once its checks passed:
// one more round trip, small beside sending 64 MiB. A file that failed
// its digest then never replaces the target, and a flight given up on
// (its digest reply past the deadline) leaves no rename queued behind it.
// The server runs what it has received even after ftpfs closed the
// connection: proftpd did, after the HASH it was computing, and moved the
// next attempt's temporary file, still being written, over the target.
const lateRenameSize = 64 << 20

// lateFrom is lateRenameSize, or what a test set.
func (p *Pool) lateFrom() int64 {
	if p.lateRename > 0 {
		return p.lateRename
	}
	return lateRenameSize
}

// hashRate is the rate at which the server is taken to hash a file (see
// digestWait).
func (p *Pool) hashRate() float64 {
	if p.digestRate > 0 {
		return p.digestRate
	}
	return digestRate
}

// Open dials a first session, which checks the address and the login and
// teaches the pool the server's features, and returns the pool with that
// session ready for use.
func Open(ctx context.Context, cfg Config) (*Pool, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Connections <= 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.RetryTimeout <= 0 {
		cfg.RetryTimeout = DefaultRetryTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cc, err := newCodec(cfg.Encoding)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != TLSOff {
		tc, err := tlsConfig(&cfg)
		if err != nil {
			return nil, err
		}
		cfg.tls = tc
	}
	cfg.port = &portState{}
	p := &Pool{cfg: cfg, cc: cc, tokens: make(chan struct{}, cfg.Connections), files: map[*File]struct{}{}}
	p.q.ref = newRefusals(cfg.Logger)
	p.probeCtx, p.probeCancel = context.WithCancel(context.Background())
	p.dialed, p.kick = make(chan struct{}), make(chan struct{}, 1)
	if cfg.DisableMLSD {
		p.q.ref.disable(optMLSD)
	}
	if cfg.DisableDataAhead {
		p.q.ref.disable(optAhead)
	}
	if cfg.DisableExactTimes {
		p.q.ref.disable(optMDTM)
	}
	s, err := dial(ctx, &p.cfg, p.q, &p.cmds)
	if err != nil {
		p.probeCancel()
		return nil, err
	}
	if !s.mlsd {
		// vsftpd and others without MLSD hide dot files from a bare LIST;
		// the library only sends "LIST -a" when told so at dial time.
		s.close()
		p.q.listHidden = true
		if s, err = dial(ctx, &p.cfg, p.q, &p.cmds); err != nil {
			p.probeCancel()
			return nil, err
		}
	}
	p.idle = append(p.idle, s)
	p.stopJanitor, p.janitorDone = make(chan struct{}), make(chan struct{})
	go p.janitor()
	return p, nil
}

// janitor closes sessions that stayed idle for idleClose.
func (p *Pool) janitor() {
	defer close(p.janitorDone)
	t := time.NewTicker(idleClose / 4)
	defer t.Stop()
	for {
		select {
		case <-p.stopJanitor:
			return
		case <-t.C:
		}
		p.mu.Lock()
		var old, keep []*Session
		for _, s := range p.idle {
			if time.Since(s.lastUsed) > idleClose {
				old = append(old, s)
			} else {
				keep = append(keep, s)
			}
		}
		p.idle = keep
		p.mu.Unlock()
		for _, s := range old {
			s.close()
		}
	}
}

// Commands returns how many FTP commands the pool has sent so far.
func (p *Pool) Commands() int64 { return p.cmds.Load() }

// get returns a session for the caller's exclusive use until put. While
// the server is unreachable it fails at once with ErrUnreachable.
func (p *Pool) get(ctx context.Context) (*Session, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if p.downFlag.Load() {
		if err := p.whileDown(ctx); err != nil {
			return nil, err
		}
	}
	if err := p.acquire(ctx); err != nil {
		return nil, err
	}
	return p.session(ctx)
}

// getSpare returns a session for work that can do without one (the extra
// transfers of a parallel read, parallel.go): only while another token
// stays free for the metadata an application waits on, without waiting
// for a token and without reclaiming streams. ok is false when the pool
// has none to spare, is closed or finds the server unreachable.
func (p *Pool) getSpare(ctx context.Context) (s *Session, ok bool, err error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed || p.downFlag.Load() || cap(p.tokens)-len(p.tokens) < 2 {
		return nil, false, nil
	}
	select {
	case p.tokens <- struct{}{}:
	default:
		return nil, false, nil
	}
	s, err = p.session(ctx)
	return s, err == nil, err
}

// session returns an idle session, checked with NOOP if it idled long, or
// dials one; the caller holds a token.
func (p *Pool) session(ctx context.Context) (*Session, error) {
	for {
		s := p.popIdle()
		if s == nil {
			break
		}
		if time.Since(s.lastUsed) < idleCheck || s.noop() == nil {
			return s, nil
		}
		s.close()
	}
	s, err := dial(ctx, &p.cfg, p.q, &p.cmds)
	if err != nil {
		p.releaseAfterDialError(err)
		return nil, err
	}
	return s, nil
}

// releaseAfterDialError gives the token back, unless the server refused the
// session for its session limit while others are open: then the token is
// kept for good, so the pool shrinks to what the server allows and callers
// wait for a free session instead of failing.
func (p *Pool) releaseAfterDialError(err error) {
	if isSessionLimit(err) && len(p.tokens) > 1 {
		p.mu.Lock()
		p.shrunk++
		n := cap(p.tokens) - p.shrunk
		p.mu.Unlock()
		p.cfg.Logger.Info("the server limits sessions; using fewer", "connections", n, "reply", err)
		return
	}
	<-p.tokens
}

// acquire takes a session token, first reclaiming an idle stream if none is
// free: a file left open by an idle reader must not starve other callers.
func (p *Pool) acquire(ctx context.Context) error {
	select {
	case p.tokens <- struct{}{}:
		return nil
	default:
	}
	p.reclaimStream()
	select {
	case p.tokens <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pool) popIdle() *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	// The most recently used, unless it is still opening a data
	// connection ahead and another is not: a transfer would wait for it.
	i := n - 1
	for i > 0 && p.idle[i].aheadPending() {
		i--
	}
	if p.idle[i].aheadPending() {
		i = n - 1
		p.startSpare()
	}
	s := p.idle[i]
	p.idle = append(p.idle[:i], p.idle[i+1:]...)
	return s
}

// put returns a session after use. err is the result of what the caller
// did with it: a session that may be out of step is checked or discarded.
// put returns err, marked transient if the check shows that the server
// closed the connection after its reply: vsftpd ends a session with "500
// OOPS: ..." (or any reply) when its helper process fails, and that reply
// says nothing about the command, which a new session may well do.
func (p *Pool) put(s *Session, err error) error {
	defer func() { <-p.tokens }()
	s.note(err)
	err = s.aheadFailed(err)
	var e *Error
	if errors.As(err, &e) && e.Code != 0 && errors.Is(err, ErrNameTooLong) {
		// pyftpdlib answers the rest of a line too long as one more
		// command: a reply nobody asked for would follow.
		s.broken = true
	}
	if err != nil && !s.broken {
		if nerr := s.noop(); nerr != nil {
			s.broken = true
			if isNetErr(nerr) {
				err = deadSession(err)
			}
		}
	}
	p.mu.Lock()
	if s.broken || p.closed {
		p.mu.Unlock()
		s.close()
		return err
	}
	s.lastUsed = time.Now()
	p.idle = append(p.idle, s)
	p.mu.Unlock()
	return err
}

// do runs fn on a session, retrying on fresh sessions while it fails in a
// way a new connection may cure, for up to Config.RetryTimeout.
func (p *Pool) do(ctx context.Context, op, path string, fn func(*Session) error) error {
	return p.attempt(ctx, false, op, path, fn)
}

// do1 runs fn once, for commands that must not be repeated blindly; only
// failing to get a session at all is retried.
func (p *Pool) do1(ctx context.Context, op, path string, fn func(*Session) error) error {
	return p.attempt(ctx, true, op, path, fn)
}

func (p *Pool) attempt(ctx context.Context, once bool, op, path string, fn func(*Session) error) error {
	r := p.retrier()
	for {
		s, err := p.get(ctx)
		if err == nil {
			err = p.put(s, s.explain(wrapErr(op, path, fn(s))))
			p.health.note(err)
			if err == nil {
				p.answered()
			}
			if once {
				return err
			}
		} else {
			p.health.note(err)
		}
		if !r.again(ctx, op, path, err) {
			return err
		}
	}
}

// Close logs out of every idle session and makes later puts close theirs.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stopJanitor)
	idle := p.idle
	p.idle = nil
	files := make([]*File, 0, len(p.files))
	for f := range p.files {
		files = append(files, f)
	}
	p.mu.Unlock()
	for _, f := range files {
		f.dropStream()
	}
	for _, s := range idle {
		s.close()
	}
	<-p.janitorDone
	p.stopProbe() // also ends a spare session's dial
	p.spare.Wait()
	return nil
}

// errClosed is returned by operations on a closed pool, as the mount shuts
// down.
var errClosed = &Error{Op: "connect", Msg: "connection pool closed", Err: errors.New("pool closed")}
