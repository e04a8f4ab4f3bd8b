package conn

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jlaffaye/ftp"
)

// DefaultRetryTimeout bounds how long an operation is retried after
// transient failures before the application gets an error.
const DefaultRetryTimeout = 60 * time.Second

// retrier paces the retries of one operation: the first at once (on a
// fresh connection), then with a backoff doubling from 100 ms to 2 s,
// until Config.RetryTimeout has passed since the first attempt, or the
// server has answered the operation with a transient reply
// maxReplyRetries+1 times. An operation whose retries were spent failing
// to connect makes the pool call the server unreachable (reach.go).
type retrier struct {
	p       *Pool
	start   time.Time
	n       int
	replies int
	conn    connectTrack
}

// maxReplyRetries bounds the retries after the server answered with a
// transient reply (4xx) rather than failing to answer: a server that keeps
// saying no at once (pyftpdlib's "426 ...; transfer aborted." on a full
// disk, "451 Local error") is not going to say yes in a minute, and the
// application waits for nothing meanwhile. A lost connection or a server
// that cannot be reached keeps the time-bounded retries.
const maxReplyRetries = 3

func (p *Pool) retrier() *retrier { return &retrier{p: p, start: time.Now()} }

// again reports whether to try once more after err, having waited.
func (r *retrier) again(ctx context.Context, op, path string, err error) bool {
	if err == nil || !(IsTransient(err) || isSessionLimit(err)) || ctx.Err() != nil {
		return false
	}
	r.conn.note(err)
	if answered(err) {
		if r.replies++; r.replies > maxReplyRetries {
			r.p.cfg.Logger.Warn("giving up: the server gave the same kind of answer each time", "op", op, "path", path, "tries", r.replies, "err", err)
			return false
		}
	}
	if r.conn.refusedFor(min(refusedGrace, r.p.cfg.RetryTimeout)) {
		r.p.markUnreachable(r.conn.since, op, path, err)
		return false
	}
	if time.Since(r.start) >= r.p.cfg.RetryTimeout {
		if !r.conn.since.IsZero() {
			r.p.markUnreachable(r.conn.since, op, path, err)
			return false
		}
		r.p.cfg.Logger.Warn("giving up", "op", op, "path", path, "after", time.Since(r.start).Round(time.Millisecond), "err", err)
		return false
	}
	wait := time.Duration(0)
	if r.n > 0 {
		wait = min(100*time.Millisecond<<(r.n-1), 2*time.Second)
	}
	r.n++
	r.p.cfg.Logger.Debug("retrying", "op", op, "path", path, "in", wait, "err", err)
	if wait == 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// answered reports a transient failure that is the server's reply on a
// live session, not a lost connection or a refusal of one more session.
func answered(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code != 0 && !e.dead && !isNetErr(e.Err) && !isSessionLimit(err)
}

// isSessionLimit reports a server refusing one more session: 421 at the
// greeting (vsftpd, pure-ftpd, pyftpdlib), or 530 after PASS with words to
// that effect (proftpd: "the maximum number of clients ... are already
// connected").
func isSessionLimit(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case ftp.StatusNotAvailable:
		return true
	case ftp.StatusNotLoggedIn:
		m := strings.ToLower(e.Msg)
		return strings.Contains(m, "maximum") || strings.Contains(m, "too many")
	}
	return false
}
