package conn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
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
	// DirectUpload makes STOR write the file in place, as FTP clients
	// do, instead of under a temporary name renamed over it when whole
	// (for servers where a temporary name is unwelcome).
	DirectUpload bool
	// Verify says how an upload is checked after the server's 226:
	// VerifyDigest (the default, "") compares a digest computed while
	// sending with the server's own (HASH, or XSHA256 and the like) where
	// the server offers one, and the size elsewhere; VerifySize compares
	// the size only.
	Verify string
	// Active selects active mode: the server connects to ftpfs for each
	// data connection (RFC 959 PORT, RFC 2428 EPRT) instead of ftpfs to
	// the server. ActiveAddr, if set, is the IP address announced instead
	// of the control connection's local one (a NAT's public address).
	Active     bool
	ActiveAddr string
	// SourceAddr is the local IP address the control and data connections
	// (and the active mode listener) are bound to; empty lets the system
	// choose.
	SourceAddr string
	// Account is sent with ACCT when the server asks for one after PASS
	// (reply 332, RFC 959 section 4.1.1).
	Account string
	// ClearData, under TLS, leaves data connections unprotected (PROT C,
	// RFC 2228's PROT as RFC 4217 uses it): only the control connection is
	// encrypted.
	ClearData bool
	// CCC, under TLS, returns the control connection to clear text after
	// the login (RFC 4217 section 12.3), so that a NAT firewall can read
	// the data port commands.
	CCC bool
	// DisableMLSD lists with LIST even where FEAT offers MLST, for servers
	// whose MLSD is broken in a way a refusal would not show.
	DisableMLSD bool
	// DisableExactTimes shows LIST's times (to the minute, or the day
	// for files older than six months) instead of asking MDTM for each
	// listed file's time to the second, pipelined after each listing.
	DisableExactTimes bool
	// DisableDataAhead opens each passive data connection when its
	// transfer starts, never ahead after an upload (see ahead.go).
	DisableDataAhead bool
	// Parallel is the most transfers one file read in order may use at
	// once when its one stream is slow (a server capping each session's
	// rate); at most Connections-1. Zero means DefaultParallel; 1 reads
	// every file with one stream.
	Parallel int

	tls  *tls.Config // built by Open from the fields above
	port *portState  // built by Open: what the sessions learned about active mode
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
	cfg      *Config
	// pendingData is the active mode data connection announced for the
	// library's next transfer (see standIn).
	pendingData *dataConn
	// ahead is the passive data connection opened ahead of the next
	// transfer (see ahead.go); usedAhead says the last one was taken.
	ahead     *aheadConn
	usedAhead bool
	// hashSel is the algorithm HASH computes on this session: FEAT's
	// "*", then what OPTS HASH selected; "" before the first upload.
	hashSel string
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
	s := &Session{id: sessionIDs.Add(1), timeout: cfg.Timeout, cfg: cfg}
	log := cfg.Logger.With("session", s.id)
	if cfg.tls != nil {
		s.tls = sessionTLS(cfg.tls)
	}
	var ctlErr error // a TLS failure, which the library would only report as a dial error
	unhook := func() bool { return false }
	defer func() { unhook() }()
	dialFn := func(network, addr string) (net.Conn, error) {
		if s.ctl != nil {
			return s.dialData(addr)
		}
		nc, err := s.dialControl(ctx, cfg.TLS, addr, log)
		if err != nil {
			ctlErr = err
			return nil, err
		}
		// A server that accepts and never greets would hold a caller
		// that gave up (the pool's probe at Close) for Config.Timeout.
		unhook = context.AfterFunc(ctx, func() { _ = nc.Close() })
		s.ctl = newCtlConn(nc, cfg.Timeout, log, cmds)
		s.ctl.standIn = s.standIn
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
		if cfg.CCC {
			if err := s.clearControl(); err != nil {
				_ = s.ctl.Close()
				return nil, err
			}
		}
	}
	s.lastUsed = time.Now()
	return s, nil
}

// standIn runs, in the library's place, the exchanges the library cannot:
// active mode's data port (see activeStandIn) and a login that asks for an
// account. It returns the reply the library is given, or handled false to
// let the line through.
func (s *Session) standIn(line string) (reply []byte, handled bool, err error) {
	verb, arg, _ := strings.Cut(line, " ")
	switch {
	case s.cfg.Active && (verb == "EPSV" || verb == "PASV"):
		reply, err = s.activeStandIn(verb)
		return reply, true, err
	case s.ahead != nil && (verb == "EPSV" || verb == "PASV"):
		// The library's transfer takes the connection opened ahead: its
		// "dial" gets it (see dialData); the port it reads is ignored.
		if d := s.takeAhead(); d != nil {
			s.pendingData = d
			if verb == "PASV" { // the library's fallback after a failed EPSV
				return []byte("227 Entering Passive Mode (0,0,0,0,0,0), opened ahead\r\n"), true, nil
			}
			return []byte("229 Entering Extended Passive Mode (|||0|), opened ahead\r\n"), true, nil
		}
	case s.cfg.Account != "" && verb == "PASS":
		reply, err = s.login(arg)
		return reply, true, err
	}
	return nil, false, nil
}

// login sends PASS and, when the server asks for an account with 332,
// ACCT (RFC 959 section 4.1.1), which jlaffaye/ftp's Login does not do.
// The library is given the last reply, as if PASS had earned it.
func (s *Session) login(password string) ([]byte, error) {
	x := s.exchange()
	code, msg, err := x.cmd(0, "PASS %s", password)
	if err == nil && code == ftp.StatusLoginNeedAccount {
		code, msg, err = x.cmd(0, "ACCT %s", s.cfg.Account)
	}
	if derr := x.done(); err == nil {
		err = derr
	}
	if err != nil {
		s.broken = true
		return nil, err
	}
	var b bytes.Buffer
	writeReply(&b, code, msg)
	return b.Bytes(), nil
}

// utf8Refused reports a login that failed only at its last step, OPTS UTF8
// ON, which the server lists in FEAT and then refuses: the library takes
// that as a failed login, but the session is logged in, and names pass
// through as bytes anyway.
func utf8Refused(ctl *ctlConn, ref *refusals) bool {
	return ctl != nil && ctl.lastVerb == "OPTS UTF8" && ref.refused(optUTF8)
}

// dialControl opens the control connection, with TLS as mode says.
func (s *Session) dialControl(ctx context.Context, mode TLSMode, addr string, log *slog.Logger) (net.Conn, error) {
	nc, err := s.dialer().DialContext(ctx, "tcp", addr)
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

// dialer dials from the source address, if one is set.
func (s *Session) dialer() *net.Dialer {
	d := &net.Dialer{Timeout: s.timeout}
	if ip := net.ParseIP(s.cfg.SourceAddr); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

// dataTLS is the TLS configuration of data connections: nil without TLS
// or with clear data connections (PROT C).
func (s *Session) dataTLS() *tls.Config {
	if s.cfg.ClearData {
		return nil
	}
	return s.tls
}

// dialData opens a data connection. Under TLS the handshake waits for the
// first read or write: servers start TLS on a data connection only after
// the command that uses it, which is sent after the dial. In active mode
// it hands over the connection standIn announced.
func (s *Session) dialData(addr string) (net.Conn, error) {
	if d := s.pendingData; d != nil {
		s.pendingData = nil
		return d, nil
	}
	nc, err := s.dialer().Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return s.newDataConn(nc), nil
}

// newDataConn wraps a connection to a data port as this session's data
// connection: TLS as the session protects data, the deadline, and the
// listing sink a listing set.
func (s *Session) newDataConn(nc net.Conn) *dataConn {
	if tc := s.dataTLS(); tc != nil {
		nc = tls.Client(nc, tc)
	}
	s.data = &dataConn{Conn: nc, timeout: s.timeout}
	if s.sink != nil {
		s.data.sink = s.sink
	}
	return s.data
}

// protectData asks for protected data connections (RFC 4217: PBSZ 0, then
// PROT P), which the library does only for TLS it set up itself; with
// ClearData, for clear ones (PROT C).
func (s *Session) protectData() error {
	if _, _, err := s.raw(2, "PBSZ 0"); err != nil {
		return wrapErr("pbsz", "", err)
	}
	level := "P"
	if s.cfg.ClearData {
		level = "C"
	}
	if _, _, err := s.raw(2, "PROT %s", level); err != nil {
		e := wrapErr("prot", level, err)
		if fe, ok := e.(*Error); ok && s.cfg.ClearData && fe.Code != 0 {
			fe.Msg += " (the server refuses clear data connections: drop -o tls_data=clear)"
		}
		return e
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
	if e.Code == ftp.StatusLoginNeedAccount {
		e.Msg += " (the server asks for an account: give it with -o account=ACCT)"
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
	s.dropAhead()
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
