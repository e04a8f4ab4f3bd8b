package conn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/jlaffaye/ftp"
)

// jlaffaye/ftp has no call for an arbitrary command, and picks the listing
// command (MLSD or LIST) once per connection. The exchanges here talk on the
// control connection directly, between library calls: the library's reader
// has then consumed every reply the server sent (servers send nothing
// unasked), so the connection is in step. Each exchange reads through one
// buffered reader of its own and must end with it empty; if the server sent
// more than the exchange expects, the session is marked broken.

// errDesync reports that a server sent more than the exchange expected.
var errDesync = errors.New("unexpected data on the control connection")

// rawExchange is one command-and-replies exchange on the control connection.
type rawExchange struct {
	s  *Session
	tr *textproto.Reader
	br *bufio.Reader
}

func (s *Session) exchange() *rawExchange {
	br := bufio.NewReader(s.ctl)
	return &rawExchange{s: s, br: br, tr: textproto.NewReader(br)}
}

// cmd sends a command and reads one reply, which must be of the class of
// expect (a textproto.Reader convention: 2 means any 2xx).
func (x *rawExchange) cmd(expect int, format string, args ...any) (int, string, error) {
	line := fmt.Sprintf(format, args...)
	if strings.ContainsAny(line, "\r\n") {
		return 0, "", ftp.ErrInvalidCommand
	}
	if _, err := x.s.ctl.Write([]byte(line + "\r\n")); err != nil {
		return 0, "", err
	}
	return x.tr.ReadResponse(expect)
}

// done checks that nothing is left unread.
func (x *rawExchange) done() error {
	if x.br.Buffered() > 0 {
		x.s.broken = true
		return errDesync
	}
	return nil
}

// raw sends one command the library lacks and returns its reply.
func (s *Session) raw(expect int, format string, args ...any) (int, string, error) {
	x := s.exchange()
	code, msg, err := x.cmd(expect, format, args...)
	if derr := x.done(); err == nil {
		err = derr
	}
	s.note(err)
	return code, msg, err
}

// rawList runs a listing command of our choice (LIST -a on a server whose
// sessions list with MLSD) and streams its data into w.
func (s *Session) rawList(command string, w io.Writer) error {
	return s.inExchange(func(x *rawExchange) error { return x.transfer(command, w) })
}

// inExchange runs f as one exchange, checks that it left nothing unread,
// and notes a failure on the session.
func (s *Session) inExchange(f func(x *rawExchange) error) error {
	x := s.exchange()
	err := f(x)
	if derr := x.done(); err == nil {
		err = derr
	}
	s.note(err)
	return err
}

func (x *rawExchange) transfer(command string, w io.Writer) error {
	data, err := x.openData()
	if err != nil {
		return err
	}
	defer data.Close()
	if _, _, err := x.cmd(1, "%s", command); err != nil {
		return err
	}
	_, cerr := io.Copy(w, deadlineReader{data})
	data.Close()
	_, _, err = x.tr.ReadResponse(2)
	if err == nil {
		err = cerr
	}
	return err
}

// openData asks for a data port and connects to it, or in active mode
// listens and announces its port.
func (x *rawExchange) openData() (*dataConn, error) {
	if x.s.cfg.Active {
		return x.s.activeData(x)
	}
	if d := x.s.takeAhead(); d != nil {
		return d, nil
	}
	addr, err := x.passive()
	if err != nil {
		return nil, err
	}
	nc, err := x.s.dialData(addr)
	if err != nil {
		return nil, err
	}
	return nc.(*dataConn), nil
}

// passive asks for a data port with EPSV and connects back to the control
// connection's address, as jlaffaye/ftp does (a PASV address can be wrong
// behind NAT, and trusting it would let a server aim us elsewhere).
func (x *rawExchange) passive() (string, error) {
	host, _, err := net.SplitHostPort(x.s.ctl.RemoteAddr().String())
	if err != nil {
		return "", err
	}
	if x.s.ctl.ref.refused(optEPSV) {
		return x.pasv(host)
	}
	_, msg, err := x.cmd(2, "EPSV")
	if err != nil {
		var tp *textproto.Error
		if errors.As(err, &tp) && (tp.Code >= 500 || refused(err)) {
			return x.pasv(host) // ctlConn learnt a refusal
		}
		return "", err
	}
	start, end := strings.Index(msg, "|||"), strings.LastIndex(msg, "|")
	if start < 0 || end <= start+3 {
		return "", fmt.Errorf("bad EPSV reply %q", msg)
	}
	port, err := strconv.Atoi(msg[start+3 : end])
	if err != nil || port <= 0 || port > 65535 {
		return "", fmt.Errorf("bad EPSV reply %q", msg)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// pasv is passive's fallback for servers without EPSV; only the port of the
// reply is used, for the reason passive gives.
func (x *rawExchange) pasv(host string) (string, error) {
	_, msg, err := x.cmd(2, "PASV")
	if err != nil {
		return "", err
	}
	start, end := strings.Index(msg, "("), strings.LastIndex(msg, ")")
	if start < 0 || end < start {
		return "", fmt.Errorf("bad PASV reply %q", msg)
	}
	f := strings.Split(msg[start+1:end], ",")
	if len(f) != 6 {
		return "", fmt.Errorf("bad PASV reply %q", msg)
	}
	hi, err1 := strconv.Atoi(strings.TrimSpace(f[4]))
	lo, err2 := strconv.Atoi(strings.TrimSpace(f[5]))
	if err1 != nil || err2 != nil || hi < 0 || hi > 255 || lo < 0 || lo > 255 {
		return "", fmt.Errorf("bad PASV reply %q", msg)
	}
	return net.JoinHostPort(host, strconv.Itoa(hi<<8|lo)), nil
}
