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

// Pool hands out logged-in sessions, at most Config.Connections at once.
// It is safe for concurrent use.
type Pool struct {
	cfg  Config
	q    quirks
	cmds atomic.Int64 // commands sent over all sessions
	cc   codec        // the server's character set for names

	noSetTime atomic.Bool // neither MFMT nor vsftpd's MDTM form worked
	noChmod   atomic.Bool // SITE CHMOD is not implemented

	tokens chan struct{} // a token per session that may exist

	mu     sync.Mutex
	idle   []*Session         // guarded by mu; most recently used last
	files  map[*File]struct{} // guarded by mu; files holding a stream
	closed bool               // guarded by mu
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
	p := &Pool{cfg: cfg, cc: cc, tokens: make(chan struct{}, cfg.Connections), files: map[*File]struct{}{}}
	s, err := dial(ctx, &p.cfg, p.q, &p.cmds)
	if err != nil {
		return nil, err
	}
	if !s.mlsd {
		// vsftpd and others without MLSD hide dot files from a bare LIST;
		// the library only sends "LIST -a" when told so at dial time.
		s.close()
		p.q.listHidden = true
		if s, err = dial(ctx, &p.cfg, p.q, &p.cmds); err != nil {
			return nil, err
		}
	}
	p.idle = append(p.idle, s)
	return p, nil
}

// Commands returns how many FTP commands the pool has sent so far.
func (p *Pool) Commands() int64 { return p.cmds.Load() }

// get returns a session for the caller's exclusive use until put.
func (p *Pool) get(ctx context.Context) (*Session, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if err := p.acquire(ctx); err != nil {
		return nil, err
	}
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
		<-p.tokens
		return nil, err
	}
	return s, nil
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
	s := p.idle[n-1]
	p.idle = p.idle[:n-1]
	return s
}

// put returns a session after use. err is the result of what the caller
// did with it: a session that may be out of step is checked or discarded.
func (p *Pool) put(s *Session, err error) {
	defer func() { <-p.tokens }()
	s.note(err)
	if err != nil && !s.broken && s.noop() != nil {
		s.broken = true
	}
	p.mu.Lock()
	if s.broken || p.closed {
		p.mu.Unlock()
		s.close()
		return
	}
	s.lastUsed = time.Now()
	p.idle = append(p.idle, s)
	p.mu.Unlock()
}

// do runs fn on a session, once more on a fresh one if the first attempt
// fails in a way a new connection may cure.
func (p *Pool) do(ctx context.Context, op, path string, fn func(*Session) error) error {
	return p.attempt(ctx, 2, op, path, fn)
}

// do1 runs fn once, for commands that must not be repeated blindly.
func (p *Pool) do1(ctx context.Context, op, path string, fn func(*Session) error) error {
	return p.attempt(ctx, 1, op, path, fn)
}

func (p *Pool) attempt(ctx context.Context, attempts int, op, path string, fn func(*Session) error) error {
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		var s *Session
		if s, err = p.get(ctx); err != nil {
			return err
		}
		err = wrapErr(op, path, fn(s))
		p.put(s, err)
		if err == nil || !IsTransient(err) || ctx.Err() != nil {
			return err
		}
		p.cfg.Logger.Debug("retrying", "op", op, "path", path, "err", err)
	}
	return err
}

// Close logs out of every idle session and makes later puts close theirs.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
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
	return nil
}

// errClosed is returned by operations on a closed pool, as the mount shuts
// down.
var errClosed = &Error{Op: "connect", Msg: "connection pool closed", Err: errors.New("pool closed")}
