package conn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// TLSMode says whether and how a session is protected.
type TLSMode uint8

// The FTPS variants: explicit FTPS upgrades the control connection with
// AUTH TLS (RFC 4217); implicit FTPS speaks TLS from the first byte,
// usually on port 990. Data connections are protected too (PROT P).
const (
	TLSOff TLSMode = iota
	TLSExplicit
	TLSImplicit
)

// tlsConfig builds the client configuration: the system's roots plus
// cafile, or no verification with insecure. host is what the certificate
// must name.
func tlsConfig(cfg *Config) (*tls.Config, error) {
	tc := &tls.Config{ServerName: cfg.Host, InsecureSkipVerify: cfg.Insecure, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cafile: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cafile %s: no PEM certificate in it", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// sessionTLS returns the configuration for one session: its own session
// cache, so that its data connections resume the control connection's TLS
// session and no other. vsftpd (require_ssl_reuse=YES, its default) and
// FileZilla Server refuse data connections that do not.
func sessionTLS(base *tls.Config) *tls.Config {
	tc := base.Clone()
	tc.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	return tc
}

// startTLS performs explicit FTPS on a fresh control connection: it reads
// the greeting, sends AUTH TLS, and shakes hands. The library, which then
// takes the connection, must still read the greeting, so the returned
// connection replays it before the encrypted stream.
func startTLS(ctx context.Context, nc net.Conn, tc *tls.Config, timeout time.Duration) (net.Conn, error) {
	_ = nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	var greeting bytes.Buffer
	br := bufio.NewReader(nc)
	tr := textproto.NewReader(br)
	if _, _, err := readRecorded(tr, &greeting, 2); err != nil {
		return nil, err
	}
	if _, err := nc.Write([]byte("AUTH TLS\r\n")); err != nil {
		return nil, err
	}
	if _, _, err := tr.ReadResponse(234); err != nil {
		return nil, fmt.Errorf("AUTH TLS refused: %w", err)
	}
	if br.Buffered() > 0 {
		return nil, errDesync
	}
	tlsConn := tls.Client(nc, tc)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return &replayConn{Conn: tlsConn, pending: greeting.Bytes()}, nil
}

// readRecorded reads one reply and keeps its raw lines in buf.
func readRecorded(tr *textproto.Reader, buf *bytes.Buffer, expect int) (int, string, error) {
	code, msg, err := tr.ReadResponse(expect)
	if code != 0 {
		writeReply(buf, code, msg)
	}
	return code, msg, err
}

// writeReply renders a reply as a server sends it, every line but the
// last with a hyphen after the code.
func writeReply(buf *bytes.Buffer, code int, msg string) {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(buf, "%03d%s%s\r\n", code, sep, l)
	}
}

// replayConn yields pending before reading from Conn.
type replayConn struct {
	net.Conn
	pending []byte
}

// Read replays the recorded bytes first.
func (r *replayConn) Read(b []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(b, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(b)
}

// tlsError explains a failed handshake in a user's words.
func tlsError(addr string, err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown), errors.As(err, &verify) && errors.As(verify.Err, &unknown):
		return &Error{Op: "tls", Path: addr, Err: err,
			Msg: "the server's certificate is not trusted (signed by an unknown authority); add its CA with -o cafile=PATH, or skip verification with -o insecure"}
	case errors.As(err, &host):
		return &Error{Op: "tls", Path: addr, Err: err,
			Msg: "the server's certificate does not name this host (" + host.Error() + ")"}
	case errors.As(err, &invalid):
		return &Error{Op: "tls", Path: addr, Err: err, Msg: "the server's certificate is invalid: " + invalid.Error()}
	}
	return &Error{Op: "tls", Path: addr, Err: err, Msg: err.Error()}
}

// clearControl ends TLS on the control connection after the login (CCC,
// RFC 4217 section 12.3), so that a NAT firewall can read the data port
// commands that follow: the server answers 200, both sides send TLS's
// close_notify, and the same TCP connection goes on in clear. Data
// connections stay as PROT said.
func (s *Session) clearControl() error {
	tc := controlTLS(s.ctl.Conn)
	if tc == nil {
		return &Error{Op: "ccc", Msg: "the control connection is not TLS", Err: errors.New("no TLS to clear")}
	}
	if _, _, err := s.raw(2, "CCC"); err != nil {
		e := wrapErr("ccc", "", err)
		if fe, ok := e.(*Error); ok && fe.Code != 0 {
			fe.Msg += " (the server does not clear the control connection: drop -o tls_ccc)"
		}
		return e
	}
	_ = tc.SetDeadline(time.Now().Add(s.timeout))
	err := tc.CloseWrite()
	if err == nil {
		// Read up to the server's close_notify, which ends the TLS stream
		// with io.EOF: the server sends nothing after it until our next
		// command, so no clear byte is consumed here.
		_, err = io.Copy(io.Discard, tc)
	}
	if err != nil {
		s.broken = true
		return &Error{Op: "ccc", Msg: "ending TLS on the control connection: " + err.Error(), Err: err}
	}
	// CloseWrite leaves a write deadline in the past on the TCP connection.
	nc := tc.NetConn()
	_ = nc.SetDeadline(time.Time{})
	s.ctl.Conn = nc
	return nil
}

// controlTLS finds the TLS connection under a control connection: implicit
// FTPS's, or explicit FTPS's under the greeting's replay.
func controlTLS(c net.Conn) *tls.Conn {
	if r, ok := c.(*replayConn); ok {
		c = r.Conn
	}
	tc, _ := c.(*tls.Conn)
	return tc
}
