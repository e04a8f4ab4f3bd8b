package conn

import (
	"context"
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
	// Connections is the most control connections the pool opens at once.
	// Zero means DefaultConnections.
	Connections int
	// Logger receives the FTP transcript at debug level and warnings about
	// odd server data. Nil means slog.Default().
	Logger *slog.Logger
}

// Defaults for the zero values of Config.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultConnections = 4
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
}

var sessionIDs atomic.Int64

// dial connects and logs in. The dial function it hands to jlaffaye/ftp is
// called first for the control connection and then once per data
// connection, which lets us put our wrappers (deadlines, transcript,
// listing sink) around both.
func dial(ctx context.Context, cfg *Config, q quirks, cmds *atomic.Int64) (*Session, error) {
	timeout := cfg.Timeout
	s := &Session{id: sessionIDs.Add(1)}
	log := cfg.Logger.With("session", s.id)
	dialer := &net.Dialer{Timeout: timeout}
	dialFn := func(network, addr string) (net.Conn, error) {
		nc, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		setNoDelay(nc)
		if s.ctl == nil {
			s.ctl = newCtlConn(nc, timeout, log, cmds)
			return s.ctl, nil
		}
		s.data = &dataConn{Conn: nc, timeout: timeout}
		if s.sink != nil {
			s.data.sink = s.sink
		}
		return s.data, nil
	}
	c, err := ftp.Dial(cfg.addr(), ftp.DialWithDialFunc(dialFn), ftp.DialWithForceListHidden(q.listHidden),
		// vsftpd sets times with "MDTM time path"; the library only tries
		// it where FEAT has MDTM and no MFMT.
		ftp.DialWithWritingMDTM(true))
	if err != nil {
		return nil, wrapErr("connect", cfg.addr(), err)
	}
	s.c = c
	// Dialing used ctx; later data connections must not die with it.
	ctx = context.Background()
	if err := c.Login(cfg.User, cfg.Password); err != nil {
		_ = c.Quit()
		return nil, loginError(cfg.User, err)
	}
	s.feat = s.ctl.features()
	_, s.mlsd = s.feat["MLST"]
	s.lastUsed = time.Now()
	return s, nil
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
