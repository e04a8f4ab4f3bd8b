package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"
)

// Config says how to reach and log in to a server.
type Config struct {
	Host     string
	Port     int
	User     string
	Password string
	// Timeout bounds every network operation: a dial, a reply, a read or
	// write on a data connection. Zero means DefaultTimeout.
	Timeout time.Duration
	// RetryTimeout bounds the retries of an operation after transient
	// failures. Zero means DefaultRetryTimeout.
	RetryTimeout time.Duration
	// Connections is the most control connections the pool opens at once.
	// Zero means DefaultConnections.
	Connections int
	// Logger receives the FTP transcript at debug level and warnings about
	// odd server data. Nil means slog.Default().
	Logger *slog.Logger
	// TLS selects FTPS. Certificates are verified against the system's
	// roots plus CAFile, unless Insecure.
	TLS      TLSMode
	CAFile   string
	Insecure bool
	// Encoding names the server's character set for file names (GBK,
	// Shift_JIS, ISO-8859-1...); empty passes names through as bytes.
	Encoding string
	// DisableMLSD lists with LIST even where FEAT offers MLST, for servers
	// whose MLSD is broken in a way a refusal would not show.
	DisableMLSD bool

	tls *tls.Config // built by Open from the fields above
}

// Defaults for the zero values of Config.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultConnections = 8
)

func (c *Config) addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Session is one logged-in control connection. It serves one goroutine at
// a time; the Pool enforces that.
type Session struct {
	id       int64
	c        *ftp.ServerConn
	ctl      *ctlConn
	data     *dataConn // the last data connection opened, for the listing sink
	sink     *listParser
	feat     map[string]string
	mlsd     bool   // the server lists with MLSD (FEAT says MLST)
	cwd      string // last directory changed into, "" when unknown
	lastUsed time.Time
	broken   bool // a network error left the session in an unknown state
	timeout  time.Duration
	tls      *tls.Config // this session's, with its own session cache; nil without TLS
}

var sessionIDs atomic.Int64

// dial connects and logs in. The dial function it hands to jlaffaye/ftp is
// called first for the control connection and then once per data
// connection, which lets us put our wrappers (deadlines, transcript,
// listing sink) around both, and do TLS ourselves: under our transcript,
// so that -o debug shows plain commands and raw exchanges work, and with a
// session cache per session, so that data connections resume the control
// connection's TLS session.
func dial(ctx context.Context, cfg *Config, q quirks, cmds *atomic.Int64) (*Session, error) {
	s := &Session{id: sessionIDs.Add(1), timeout: cfg.Timeout}
	log := cfg.Logger.With("session", s.id)
	if cfg.tls != nil {
		s.tls = sessionTLS(cfg.tls)
	}
	var ctlErr error // a TLS failure, which the library would only report as a dial error
	dialFn := func(network, addr string) (net.Conn, error) {
		if s.ctl != nil {
			return s.dialData(addr)
		}
		nc, err := s.dialControl(ctx, cfg.TLS, addr, log)
		if err != nil {
			ctlErr = err
			return nil, err
		}
		s.ctl = newCtlConn(nc, cfg.Timeout, log, cmds)
		s.ctl.ref = q.ref
		return s.ctl, nil
	}
	c, err := ftp.Dial(cfg.addr(), ftp.DialWithDialFunc(dialFn), ftp.DialWithForceListHidden(q.listHidden),
		// vsftpd sets times with "MDTM time path"; the library only tries
		// it where FEAT has MDTM and no MFMT.
		ftp.DialWithWritingMDTM(true),
		// What an earlier session had refused is not asked again.
		ftp.DialWithDisabledEPSV(q.ref.refused(optEPSV)), ftp.DialWithDisabledUTF8(q.ref.refused(optUTF8)))
	if err != nil {
		if ctlErr != nil && s.tls != nil && !isNetErr(ctlErr) {
			return nil, tlsError(cfg.addr(), ctlErr)
		}
		return nil, wrapErr("connect", cfg.addr(), err)
	}
	s.c = c
	if err := c.Login(cfg.User, cfg.Password); err != nil && !utf8Refused(s.ctl, q.ref) {
		_ = c.Quit()
		return nil, loginError(cfg.User, err)
	}
	s.feat = s.ctl.features()
	_, s.mlsd = s.feat["MLST"]
	if s.tls != nil {
		if err := s.protectData(); err != nil {
			_ = c.Quit()
			return nil, err
		}
	}
	s.lastUsed = time.Now()
	return s, nil
}

// utf8Refused reports a login that failed only at its last step, OPTS UTF8
// ON, which the server lists in FEAT and then refuses: the library takes
// that as a failed login, but the session is logged in, and names pass
// through as bytes anyway.
func utf8Refused(ctl *ctlConn, ref *refusals) bool {
	return ctl != nil && ctl.lastVerb == "OPTS" && ref.refused(optUTF8)
}

// dialControl opens the control connection, with TLS as mode says.
func (s *Session) dialControl(ctx context.Context, mode TLSMode, addr string, log *slog.Logger) (net.Conn, error) {
	dialer := &net.Dialer{Timeout: s.timeout}
	nc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	setNoDelay(nc)
	switch mode {
	case TLSImplicit:
		tc := tls.Client(nc, s.tls)
		hctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			return nil, err
		}
		return tc, nil
	case TLSExplicit:
		log.Debug("ftp send", "cmd", "AUTH TLS")
		tc, err := startTLS(ctx, nc, s.tls, s.timeout)
		if err != nil {
			nc.Close()
			return nil, err
		}
		return tc, nil
	}
	return nc, nil
}

// dialData opens a data connection. Under TLS the handshake waits for the
// first read or write: servers start TLS on a data connection only after
// the command that uses it, which is sent after the dial.
func (s *Session) dialData(addr string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, s.timeout)
	if err != nil {
		return nil, err
	}
	if s.tls != nil {
		nc = tls.Client(nc, s.tls)
	}
	s.data = &dataConn{Conn: nc, timeout: s.timeout}
	if s.sink != nil {
		s.data.sink = s.sink
	}
	return s.data, nil
}

// protectData asks for protected data connections (RFC 4217: PBSZ 0, then
// PROT P), which the library does only for TLS it set up itself.
func (s *Session) protectData() error {
	if _, _, err := s.raw(2, "PBSZ 0"); err != nil {
		return wrapErr("pbsz", "", err)
	}
	if _, _, err := s.raw(2, "PROT P"); err != nil {
		return wrapErr("prot", "", err)
	}
	return nil
}

// loginError keeps the server's words: a user should read "530 Login
// incorrect", not a generic failure.
func loginError(user string, err error) error {
	e := wrapErr("login", user, err).(*Error)
	if e.Code == 0 && !isNetErr(err) {
		// jlaffaye/ftp returns a bare message when USER is refused.
		e.Code = ftp.StatusNotLoggedIn
	}
	return e
}

// setNoDelay turns off Nagle's algorithm: commands are small and each waits
// for a reply, so batching them only adds latency.
func setNoDelay(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
}

// close ends the session, politely unless it is broken.
func (s *Session) close() {
	if s.broken {
		_ = s.ctl.Close()
		return
	}
	_ = s.c.Quit()
}

// noop checks that the session still answers.
func (s *Session) noop() error {
	err := s.c.NoOp()
	s.note(err)
	return err
}

// note marks the session broken after a failure that may have left the
// control connection out of step: anything but a plain FTP reply (the server
// answered, so the next command starts clean) or a command refused before
// it was sent.
func (s *Session) note(err error) {
	if err == nil {
		return
	}
	var tp *textproto.Error
	if isNetErr(err) || !(errors.As(err, &tp) || errors.Is(err, ftp.ErrInvalidCommand)) {
		s.broken = true
	}
}

// String names the session for logs.
func (s *Session) String() string {
	return fmt.Sprintf("session %d", s.id)
}
