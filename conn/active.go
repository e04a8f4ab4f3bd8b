package conn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"
)

// Active mode (RFC 959 section 3.2, PORT; RFC 2428 section 2, EPRT): for
// each data connection ftpfs listens, tells the server where, and the
// server connects back. It serves servers and firewalls that block passive
// connections. ftpfs announces with EPRT first and falls back to PORT when
// a server refuses EPRT; what works is learned once per mount.

// portState is what a pool's sessions share about active mode.
type portState struct {
	noEPRT atomic.Bool // the server refused EPRT and took PORT
}

// errActiveUnreachable marks an active data connection the server never
// made. It is not transient (the accept timeout is kept only as text): a
// firewall that blocks one connection blocks the next, and retrying would
// only delay the advice to use passive mode.
var errActiveUnreachable = errors.New("the server did not connect back")

// activeData listens for one data connection and announces it with EPRT
// or PORT in the exchange x. The returned connection accepts the server's
// connection at its first use, within the session's timeout.
func (s *Session) activeData(x *rawExchange) (*dataConn, error) {
	ln, err := s.listenActive()
	if err != nil {
		return nil, &Error{Op: "active", Err: err,
			Msg: "cannot listen for the data connection: " + err.Error() + "; use passive mode (without -o active)"}
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ip := s.announceIP(ln)
	if err := s.announce(x, ip, port); err != nil {
		ln.Close()
		return nil, err
	}
	peer, _, _ := net.SplitHostPort(s.ctl.RemoteAddr().String())
	ac := &acceptConn{ln: ln, timeout: s.timeout, tls: s.dataTLS(), peer: net.ParseIP(peer),
		addr: net.JoinHostPort(ip.String(), strconv.Itoa(port))}
	s.data = &dataConn{Conn: ac, timeout: s.timeout}
	if s.sink != nil {
		s.data.sink = s.sink
	}
	return s.data, nil
}

// listenActive listens on the local address of the control connection:
// the interface the server is reachable from, and the source address when
// one is set, since the control connection is bound to it.
func (s *Session) listenActive() (net.Listener, error) {
	host, _, err := net.SplitHostPort(s.ctl.LocalAddr().String())
	if err != nil {
		return nil, err
	}
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// announceIP is the address the server is told to connect to: -o
// active=ADDR (a NAT's public address), else the listener's.
func (s *Session) announceIP(ln net.Listener) net.IP {
	if ip := net.ParseIP(s.cfg.ActiveAddr); ip != nil {
		return ip
	}
	return ln.Addr().(*net.TCPAddr).IP
}

// announce sends EPRT, or PORT where the server refused EPRT (500, 502 or
// 522, RFC 2428 section 2). The fallback is learned for the whole mount
// only once PORT worked: vsftpd answers 500 to EPRT and PORT alike for an
// address it will not connect to.
func (s *Session) announce(x *rawExchange, ip net.IP, port int) error {
	v4 := ip.To4()
	if !s.cfg.port.noEPRT.Load() || v4 == nil {
		family := 2
		if v4 != nil {
			family = 1
		}
		_, _, err := x.cmd(2, "EPRT |%d|%s|%d|", family, ip, port)
		var tp *textproto.Error
		if err == nil || v4 == nil || !errors.As(err, &tp) || (tp.Code != 500 && tp.Code != 502 && tp.Code != 522) {
			return s.portError("eprt", ip, port, err)
		}
	}
	_, _, err := x.cmd(2, "PORT %d,%d,%d,%d,%d,%d", v4[0], v4[1], v4[2], v4[3], port>>8, port&0xff)
	if err == nil && s.cfg.port.noEPRT.CompareAndSwap(false, true) {
		s.cfg.Logger.Info("the server refused EPRT; announcing active data connections with PORT")
	}
	return s.portError("port", ip, port, err)
}

// portError explains a refused EPRT or PORT: most servers take only their
// client's own address, so a different -o active=ADDR is refused. The
// reply goes into the message and Code stays 0: a refused data port is
// the whole mount's configuration, not one command the server lacks
// (500 would read as ENOTSUP, logged only when debugging), so it is an
// I/O error that fs logs as a warning.
func (s *Session) portError(op string, ip net.IP, port int, err error) error {
	if err == nil {
		return nil
	}
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
	var tp *textproto.Error
	if !errors.As(err, &tp) {
		return wrapErr(op, addr, err)
	}
	msg := fmt.Sprintf("%d %s (active mode: the server refused to connect there", tp.Code, oneLine(tp.Msg))
	if s.cfg.ActiveAddr != "" {
		msg += "; many servers connect only to the client's own address: check -o active=" + s.cfg.ActiveAddr
	}
	return &Error{Op: op, Path: addr, Msg: msg + "; or use passive mode, without -o active)", Err: err}
}

// explain adds to a failed transfer what a user can do about the options
// behind it: in active mode, 425 is the server saying it could not connect
// to us; with clear data connections, 522 (vsftpd's "Data connections must
// be encrypted"), 534 or ftpserverlib's "421 ... TLS is required" is the
// server refusing them.
// errNoDataPort is a 425 in active mode: the server could not reach the
// data port it accepted.
var errNoDataPort = errors.New("the server could not connect to ftpfs's data port")

func (s *Session) explain(err error) error {
	var e *Error
	if !errors.As(err, &e) || strings.Contains(e.Msg, " -o ") {
		return err
	}
	c := *e
	switch {
	case s.cfg.Active && e.Code == ftp.StatusCanNotOpenDataConnection:
		c.Msg += " (active mode: the server could not connect to ftpfs's data port; a firewall or NAT may block it: use passive mode, without -o active, or announce a reachable address with -o active=ADDR)"
		// Right after the server accepted the address: what blocks it will
		// block the next attempt too, so this is an answer, not a reason
		// to retry for retry_timeout.
		c.kind = errNoDataPort
	case s.cfg.ClearData && (e.Code == 522 || e.Code == 534 || e.Code == 421 && strings.Contains(e.Msg, "TLS")):
		c.Msg += " (the server requires protected data connections: drop -o tls_data=clear)"
	default:
		return err
	}
	return &c
}

// activeStandIn answers the library's EPSV or PASV in active mode.
// jlaffaye/ftp knows only passive mode: ctlConn hands it this function's
// reply instead of the server's, after running EPRT or PORT here, and the
// library's next "dial" takes the waiting listener (see dialData). On
// failure the error goes to the library as a failed write, which its
// buffered writer keeps: the PASV it tries after a failed EPSV fails with
// the same error, and so would every later command, so the session is
// marked broken.
func (s *Session) activeStandIn(verb string) ([]byte, error) {
	if s.pendingData != nil { // never taken: the library failed in between
		s.pendingData.Close()
		s.pendingData = nil
	}
	x := s.exchange()
	d, err := s.activeData(x)
	if derr := x.done(); err == nil && derr != nil {
		d.Close()
		err = derr
	}
	if err != nil {
		s.broken = true
		return nil, err
	}
	s.pendingData = d
	// The library reads only the port, which dialData ignores.
	if verb == "PASV" {
		return []byte("227 Entering Passive Mode (0,0,0,0,0,0), standing in for PORT\r\n"), nil
	}
	return []byte("229 Entering Extended Passive Mode (|||0|), standing in for EPRT\r\n"), nil
}

// acceptConn is an active data connection: a listener until its first use
// accepts the server's connection. Over FTPS ftpfs stays the TLS client on
// it (RFC 4217: the FTP client is the TLS client on every data connection,
// whichever side connects), resuming the control connection's session.
type acceptConn struct {
	ln      net.Listener
	timeout time.Duration
	tls     *tls.Config // nil for a clear data connection
	peer    net.IP      // the server's address: nobody else may connect
	addr    string      // as announced, for messages

	once  sync.Once
	conn  net.Conn // set by accept
	err   error
	ready atomic.Bool // conn is set: methods that must not wait for accept check it
}

// accept waits for the server, within the timeout; a connection from
// another address is dropped (RFC 2577 section 5: a data port is otherwise
// open to anyone).
func (a *acceptConn) accept() (net.Conn, error) {
	a.once.Do(func() {
		defer a.ln.Close()
		deadline := time.Now().Add(a.timeout)
		if tl, ok := a.ln.(*net.TCPListener); ok {
			_ = tl.SetDeadline(deadline)
		}
		for {
			nc, err := a.ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					a.err = err
					return
				}
				a.err = &Error{Op: "active", Path: a.addr, Err: fmt.Errorf("%w: %v", errActiveUnreachable, err),
					Msg: fmt.Sprintf("the server did not connect to %s within %s; a firewall or NAT may block it: use passive mode, without -o active, or announce a reachable address with -o active=ADDR", a.addr, a.timeout)}
				return
			}
			if ra, ok := nc.RemoteAddr().(*net.TCPAddr); ok && a.peer != nil && !ra.IP.Equal(a.peer) {
				nc.Close()
				continue
			}
			setNoDelay(nc)
			if a.tls != nil {
				nc = tls.Client(nc, a.tls)
			}
			a.conn = nc
			a.ready.Store(true)
			return
		}
	})
	return a.conn, a.err
}

// Read accepts if needed and reads.
func (a *acceptConn) Read(b []byte) (int, error) {
	c, err := a.accept()
	if err != nil {
		return 0, err
	}
	_ = c.SetReadDeadline(time.Now().Add(a.timeout))
	return c.Read(b)
}

// Write accepts if needed and writes.
func (a *acceptConn) Write(b []byte) (int, error) {
	c, err := a.accept()
	if err != nil {
		return 0, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(a.timeout))
	return c.Write(b)
}

// Close stops listening, which ends a pending accept, and closes the
// connection if there is one.
func (a *acceptConn) Close() error {
	a.ln.Close()
	a.once.Do(func() { a.err = net.ErrClosed })
	if a.conn != nil {
		return a.conn.Close()
	}
	return nil
}

// accepted returns the connection if the server has connected, without
// waiting for it.
func (a *acceptConn) accepted() net.Conn {
	if a.ready.Load() {
		return a.conn
	}
	return nil
}

// abort closes at once, without TLS's close_notify.
func (a *acceptConn) abort() error {
	a.ln.Close()
	a.once.Do(func() { a.err = net.ErrClosed })
	if tc, ok := a.conn.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	if a.conn != nil {
		return a.conn.Close()
	}
	return nil
}

// LocalAddr is the listener's address.
func (a *acceptConn) LocalAddr() net.Addr { return a.ln.Addr() }

// RemoteAddr is the server's side once connected, else the listener's.
func (a *acceptConn) RemoteAddr() net.Addr {
	if c := a.accepted(); c != nil {
		return c.RemoteAddr()
	}
	return a.ln.Addr()
}

// SetDeadline and its kin apply to an accepted connection; Read and Write
// set their own before.
func (a *acceptConn) SetDeadline(t time.Time) error {
	if c := a.accepted(); c != nil {
		return c.SetDeadline(t)
	}
	return nil
}

// SetReadDeadline: see SetDeadline.
func (a *acceptConn) SetReadDeadline(t time.Time) error {
	if c := a.accepted(); c != nil {
		return c.SetReadDeadline(t)
	}
	return nil
}

// SetWriteDeadline: see SetDeadline.
func (a *acceptConn) SetWriteDeadline(t time.Time) error {
	if c := a.accepted(); c != nil {
		return c.SetWriteDeadline(t)
	}
	return nil
}
