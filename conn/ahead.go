package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A data connection opened ahead: every transfer in passive mode costs two
// round trips before its command is sent, EPSV and the data connection's
// TCP handshake. After an upload, the session asks for its next data port
// in the same flight as the commands after the upload (EPSV last, see
// afterUpload) and connects to it in the background, so that the session's
// next transfer, an upload of the next file of a tar or cp -r, a RETR or a
// listing, starts with its command: over a link with latency, two round
// trips fewer per file.
//
// Only servers known to accept a passive connection within the transfer
// command and to keep it across other commands get one (vsftpd, pure-ftpd
// and proftpd, named by their greeting, as for sending an upload's bytes
// early: see ctlConn.acceptsInCommand); measured here: each kept the
// connection across SIZE, MKD, NOOP and CWD and 5 s idle, then took STOR
// on it. pyftpdlib takes a data connection as soon as it is made, and
// other servers time out a passive port they were not asked to use, so
// they keep the usual path. An EPSV after an upload answered with anything
// but a port, or a transfer on an opened-ahead connection that the server
// answers with 425 (it could not open the data connection), turns the
// feature off for the mount (learnt as a refusal); the upload before the
// EPSV stands, and the failed transfer is retried as any 425 is.

// aheadMaxAge is how long a connection opened ahead is used: a tar or cp
// reaches its next file well within it; an older one is dropped unused
// rather than trusting that the server still holds the port open.
const aheadMaxAge = 3 * time.Second

// aheadConn is a passive data connection being opened, or opened, ahead of
// the transfer that will use it. The dialing goroutine belongs to the
// session, which waits for it when it takes or drops the connection.
type aheadConn struct {
	done   chan struct{} // closed when the dial ended
	cancel context.CancelFunc
	nc     net.Conn // set before done closes; nil on failure
	err    error    // set before done closes
	at     time.Time
	// expire closes the connection once it is aheadMaxAge old and still
	// unused, so that an idle session holds no connection on the server;
	// mu guards expired and, once done is closed, nc.
	expire  *time.Timer
	mu      sync.Mutex
	expired bool
	// rtt is the round trip the EPSV took: for about that long after
	// the dial starts, the server has not yet accepted the connection
	// (the SYN, SYN-ACK and ACK of a real link), and a transfer on it
	// would wait.
	rtt time.Duration
}

// aheadWanted says whether this session should open a data connection
// ahead after its upload.
func (s *Session) aheadWanted() bool {
	return s.ahead == nil && !s.cfg.Active && s.ctl != nil && s.ctl.acceptsInCommand &&
		!s.ctl.ref.refused(optAhead) && !s.ctl.ref.refused(optEPSV)
}

// aheadStep is the EPSV that ends the flight after an upload, whose reply
// starts the background connect; nil where the session wants none. It is
// optional (see step): its failure is not the upload's.
func (s *Session) aheadStep() []step {
	if !s.aheadWanted() {
		return nil
	}
	sent := time.Now()
	return []step{{cmd: "EPSV", optional: true, check: func(code int, msg string) error {
		if code != 229 {
			// A port the server could not give (pure-ftpd's "425 Unable
			// to identify the local data socket: Address already in
			// use", vsftpd's "500 OOPS: vsf_sysutil_bind", which also
			// ends the session) says its passive ports are too few to
			// hold one per session: opened when needed, they suffice.
			s.ctl.ref.learn(optAhead, fmt.Sprintf("EPSV: %d %s", code, oneLine(msg)))
			return nil
		}
		port, ok := epsvPort(msg)
		if !ok {
			return nil
		}
		host, _, err := net.SplitHostPort(s.ctl.RemoteAddr().String())
		if err != nil {
			return nil
		}
		s.startAhead(net.JoinHostPort(host, strconv.Itoa(port)), time.Since(sent))
		return nil
	}}}
}

// epsvPort reads the port of an EPSV reply, "229 ... (|||port|)".
func epsvPort(msg string) (int, bool) {
	start, end := strings.Index(msg, "|||"), strings.LastIndex(msg, "|")
	if start < 0 || end <= start+3 {
		return 0, false
	}
	port, err := strconv.Atoi(msg[start+3 : end])
	if err != nil || port <= 0 || port > 65535 {
		return 0, false
	}
	return port, true
}

// startAhead connects to addr in the background; rtt is the round trip
// the port took to ask for.
func (s *Session) startAhead(addr string, rtt time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	a := &aheadConn{done: make(chan struct{}), cancel: cancel, at: time.Now(), rtt: rtt}
	s.ahead = a
	a.expire = time.AfterFunc(aheadMaxAge, a.expireNow)
	go func() {
		defer close(a.done)
		defer cancel()
		nc, err := s.dialer().DialContext(ctx, "tcp", addr)
		a.mu.Lock()
		defer a.mu.Unlock()
		if err == nil && a.expired {
			_ = nc.Close()
			nc, err = nil, errAheadExpired
		}
		a.nc, a.err = nc, err
	}()
}

// expireNow closes the connection, or ends its dial: it was not used in
// time.
func (a *aheadConn) expireNow() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expired = true
	a.cancel()
	if a.nc != nil {
		_ = a.nc.Close()
	}
}

// errAheadExpired: the connection opened ahead was not used in time.
var errAheadExpired = errors.New("data connection opened ahead expired unused")

// aheadPending reports a connection still being opened ahead: dialing,
// or made less than a round trip ago, so that the server has not yet
// accepted it. A transfer would wait for it; the pool prefers another
// idle session.
func (s *Session) aheadPending() bool {
	if s.ahead == nil {
		return false
	}
	select {
	case <-s.ahead.done:
		return time.Since(s.ahead.at) < s.ahead.rtt
	default:
		return true
	}
}

// takeAhead returns the data connection opened ahead, waiting for its dial
// if it is under way, or nil when there is none, it failed or it is older
// than aheadMaxAge (then dropped). The session has none after.
func (s *Session) takeAhead() *dataConn {
	a := s.ahead
	if a == nil {
		return nil
	}
	s.ahead = nil
	a.expire.Stop()
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil || a.expired || time.Since(a.at) > aheadMaxAge {
		if a.nc != nil {
			_ = a.nc.Close()
		}
		return nil
	}
	s.usedAhead = true
	if s.ctl.log != nil {
		s.ctl.log.Debug("data connection opened ahead", "age", time.Since(a.at).Round(time.Millisecond))
	}
	return s.newDataConn(a.nc)
}

// dropAhead closes a connection opened ahead, ending its dial.
func (s *Session) dropAhead() {
	a := s.ahead
	if a == nil {
		return
	}
	s.ahead = nil
	a.expire.Stop()
	a.cancel()
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nc != nil {
		_ = a.nc.Close()
	}
}

// aheadFailed learns from a transfer that ran on a connection opened ahead
// and failed with 425: this server does not take them, and the mount stops
// opening them. The error is returned as it is.
func (s *Session) aheadFailed(err error) error {
	if !s.usedAhead || err == nil {
		return err
	}
	s.usedAhead = false
	var e *Error
	var tp *textproto.Error
	if errors.As(err, &e) && e.Code == 425 || errors.As(err, &tp) && tp.Code == 425 {
		s.ctl.ref.learn(optAhead, err.Error())
	}
	return err
}

// startSpare logs in one more session in the background, with a data
// connection opened ahead, when every idle session is still opening its
// own: a sequence of uploads (tar -x) then alternates between two
// sessions, each opening its next data connection while the other
// uploads. Called with p.mu held.
func (p *Pool) startSpare() {
	if p.closed || !p.spareBusy.CompareAndSwap(false, true) {
		return
	}
	if !p.dialSpare(func() { p.spareBusy.Store(false) }) {
		p.spareBusy.Store(false)
	}
}

// warm logs in up to n more sessions in the background, each with a data
// connection opened ahead, for a parallel read about to start (see
// File.maybeParallel): its ranges then start with REST instead of a login.
func (p *Pool) warm(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < n && !p.closed; i++ {
		if !p.dialSpare(nil) {
			return
		}
	}
}

// dialSpare dials a session in a goroutine of the pool's (Close waits for
// it) and puts it with the idle ones, calling done, if set, at the end. It
// dials only while the sessions open (idle ones and those in use) are
// fewer than Config.Connections, and takes a session token only while two
// are free, as getSpare does, so that it never takes the last session an
// operation may need; it reports whether it started. Called with p.mu held.
func (p *Pool) dialSpare(done func()) bool {
	// Idle sessions hold no token: they count against Connections here.
	if len(p.idle)+len(p.tokens)+1 > cap(p.tokens)-p.shrunk || cap(p.tokens)-len(p.tokens) < 2 {
		return false
	}
	select {
	case p.tokens <- struct{}{}:
	default:
		return false
	}
	p.spare.Add(1)
	go func() {
		defer p.spare.Done()
		if done != nil {
			defer done()
		}
		s, err := dial(p.probeCtx, &p.cfg, p.q, &p.cmds)
		if err != nil {
			<-p.tokens
			return
		}
		s.openAheadNow()
		_ = p.put(s, nil)
	}()
	return true
}

// openAheadNow asks for a data port (EPSV) and starts connecting to it,
// reporting whether it did: the session then answered in step.
func (s *Session) openAheadNow() bool {
	if !s.aheadWanted() || s.broken {
		return false
	}
	st := s.aheadStep()[0]
	x := s.exchange()
	code, msg, err := x.cmd(0, "EPSV")
	if derr := x.done(); err == nil {
		err = derr
	}
	s.note(err)
	if err != nil {
		return false
	}
	_ = st.check(code, msg)
	return s.ahead != nil
}
