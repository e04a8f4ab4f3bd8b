package conn

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ctlConn wraps a session's control connection. jlaffaye/ftp sets no
// deadlines, so a server that stops answering would hang a call forever:
// ctlConn arms a deadline before every read and write. It also is the
// transcript of the session: it logs each command and reply when debugging
// (with the password masked), counts commands, and keeps the FEAT reply,
// which the library parses but does not expose.
type ctlConn struct {
	net.Conn
	timeout time.Duration
	// replyWait, when longer than timeout, bounds each read of the reply
	// being read instead (a digest of a big file: see step.wait).
	replyWait time.Duration
	log       *slog.Logger // nil unless debug logging is on
	cmds      *atomic.Int64

	partial  []byte   // a reply line not yet complete
	lastVerb string   // the verb of the last command sent (see verbOf)
	feat     []string // FEAT reply lines, once seen

	// hidePRET hides PRET from the FEAT reply of pure-ftpd, which offers
	// it for distributed servers it is not: the library would otherwise
	// send PRET before every transfer, a round trip each.
	hidePRET bool
	pending  []byte // the filtered FEAT reply, being handed out
	// acceptsInCommand: the greeting names a server that accepts a data
	// connection only within the transfer command, so that an upload's
	// bytes may be sent before its 150 reply (see upload).
	acceptsInCommand bool
	// standIn may run a command's exchange in the library's place (active
	// mode's EPRT for its EPSV, an account after PASS) and return the
	// reply the library is given instead (see Session.standIn); fake
	// holds it until read.
	standIn  func(line string) (reply []byte, handled bool, err error)
	fake     []byte
	standing bool // within standIn, whose own commands go to the server
	// ref learns the refusals of the optional commands the library sends
	// on its own (optionalVerbs); nil outside a pool.
	ref *refusals
}

func newCtlConn(nc net.Conn, timeout time.Duration, log *slog.Logger, cmds *atomic.Int64) *ctlConn {
	if log != nil && !log.Enabled(context.Background(), slog.LevelDebug) {
		log = nil
	}
	return &ctlConn{Conn: nc, timeout: timeout, log: log, cmds: cmds}
}

// Read reads replies under a deadline and records them.
func (c *ctlConn) Read(b []byte) (int, error) {
	if len(c.fake) > 0 {
		n := copy(b, c.fake)
		c.fake = c.fake[n:]
		return n, nil
	}
	if c.lastVerb == "FEAT" && c.hidePRET && len(c.pending) == 0 {
		if err := c.readFeat(); err != nil {
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		c.observe(b[:n])
		return n, nil
	}
	n, err := c.read(b)
	c.observe(b[:n])
	return n, err
}

func (c *ctlConn) read(b []byte) (int, error) {
	if c.timeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(max(c.timeout, c.replyWait)))
	}
	return c.Conn.Read(b)
}

// readFeat reads the whole FEAT reply and keeps it, without PRET, for Read
// to hand out.
func (c *ctlConn) readFeat() error {
	var raw []byte
	buf := make([]byte, 4096)
	for !replyComplete(raw) {
		n, err := c.read(buf)
		raw = append(raw, buf[:n]...)
		if err != nil {
			return err
		}
	}
	var out []byte
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if !strings.EqualFold(strings.TrimSpace(string(line)), "PRET") {
			out = append(out, line...)
		}
	}
	c.pending = out
	c.hidePRET = false // once per session
	return nil
}

// replyComplete reports whether raw ends with the last line of a reply:
// three digits, a space, and a line end.
func replyComplete(raw []byte) bool {
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		return false
	}
	lines := bytes.Split(bytes.TrimRight(raw, "\r\n"), []byte("\n"))
	last := lines[len(lines)-1]
	return len(last) >= 4 && last[3] == ' ' && last[0] >= '0' && last[0] <= '9'
}

// Write sends commands under a deadline and records them: one, or several
// pipelined in one write.
func (c *ctlConn) Write(b []byte) (int, error) {
	if line := string(bytes.TrimRight(b, "\r\n")); c.standIn != nil && !c.standing && !strings.Contains(line, "\n") {
		c.standing = true
		reply, handled, err := c.standIn(line)
		c.standing = false
		if err != nil {
			return 0, err
		}
		if handled {
			if c.log != nil {
				c.log.Debug("ftp stand-in", "for", maskCommand(line), "reply", strings.TrimSpace(string(reply)))
			}
			c.fake = reply
			return len(b), nil
		}
	}
	if c.timeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	if c.skipRefusedPRET(b) {
		return len(b), nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\r\n"), "\r\n")
	for _, line := range lines {
		c.lastVerb = verbOf(line)
		if c.cmds != nil {
			c.cmds.Add(1)
		}
		if c.log != nil {
			c.log.Debug("ftp send", "cmd", maskCommand(line))
		}
	}
	if len(lines) > 1 {
		// A pipelined flight judges each reply by its own step; the
		// replies that follow are not all the last command's (an EPSV
		// ending the commands after an upload must not be taken as
		// refused for a refused SITE CHMOD before it).
		c.lastVerb = flightVerb
	}
	return c.Conn.Write(b)
}

// flightVerb stands for the verb of a pipelined write (see Write).
const flightVerb = "(flight)"

// verbOf is a command line's verb in upper case, with its option for OPTS
// ("OPTS UTF8", "OPTS HASH"): a refused OPTS HASH is not a refused OPTS
// UTF8 (optionalVerbs).
func verbOf(line string) string {
	verb, rest, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	if verb == "OPTS" {
		opt, _, _ := strings.Cut(rest, " ")
		verb += " " + strings.ToUpper(opt)
	}
	return verb
}

// skipRefusedPRET keeps a PRET from the wire once the server has refused
// it: the library sends PRET before every transfer on a session whose
// FEAT listed it, and accepts any reply, so a session dialed before the
// refusal would otherwise pay a round trip per transfer for its life. It
// answers in the server's stead, and says so in the reply text.
func (c *ctlConn) skipRefusedPRET(b []byte) bool {
	line := strings.TrimRight(string(b), "\r\n")
	if !c.ref.refused(optPRET) || strings.ContainsAny(line, "\r\n") ||
		!strings.EqualFold(strings.SplitN(line, " ", 2)[0], "PRET") {
		return false
	}
	c.lastVerb = "PRET"
	c.pending = append(c.pending, "200 PRET not sent: the server refused it (ftpfs)\r\n"...)
	if c.log != nil {
		c.log.Debug("ftp skip", "skipped", line)
	}
	return true
}

// observe splits what was read into reply lines.
func (c *ctlConn) observe(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.partial = append(c.partial, b...)
			return
		}
		line := string(append(c.partial, b[:i]...))
		c.partial = c.partial[:0]
		b = b[i+1:]
		c.reply(strings.TrimRight(line, "\r"))
	}
}

func (c *ctlConn) reply(line string) {
	if c.log != nil {
		c.log.Debug("ftp recv", "reply", line)
	}
	if strings.HasPrefix(line, "220") && c.lastVerb == "" {
		if strings.Contains(line, "Pure-FTPd") || c.ref.refused(optPRET) {
			c.hidePRET = true
		}
		for _, name := range []string{"Pure-FTPd", "(vsFTPd ", "ProFTPD"} {
			if strings.Contains(line, name) {
				c.acceptsInCommand = true
			}
		}
	}
	if c.lastVerb == "FEAT" {
		c.feat = append(c.feat, line)
	}
	if opt, ok := optionalVerbs[c.lastVerb]; ok && len(line) >= 4 && line[3] == ' ' {
		if code, err := strconv.Atoi(line[:3]); err == nil && refusedReply(code, line[4:]) {
			c.ref.learn(opt, line)
		}
	}
}

// maskCommand hides the argument of PASS (and ACCT, which carries a secret
// as well) so that debug logs never show a password.
func maskCommand(line string) string {
	verb, _, found := strings.Cut(line, " ")
	switch strings.ToUpper(verb) {
	case "PASS", "ACCT":
		if found {
			return verb + " ****"
		}
	}
	return line
}

// features parses the recorded FEAT reply into upper-case feature names
// mapped to their parameters (RFC 2389: feature lines start with a space).
func (c *ctlConn) features() map[string]string {
	m := make(map[string]string)
	for _, l := range c.feat {
		if !strings.HasPrefix(l, " ") {
			continue
		}
		name, param, _ := strings.Cut(strings.TrimSpace(l), " ")
		m[strings.ToUpper(name)] = param
	}
	return m
}

// dataConn wraps a data connection with per-operation deadlines. While a
// listing is running, sink is set: the first Read then streams the whole
// transfer into it (our parser sees every raw line; the library's parser,
// which drops lines it cannot read, sees none) and reports end of file.
type dataConn struct {
	net.Conn
	timeout time.Duration
	sink    io.Writer
	wrote   bool // an upload: Close must end it gracefully
}

// Read reads under a deadline, or drains into the sink.
func (d *dataConn) Read(b []byte) (int, error) {
	if d.sink != nil {
		sink := d.sink
		d.sink = nil
		if _, err := io.Copy(sink, deadlineReader{d}); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	return d.read(b)
}

func (d *dataConn) read(b []byte) (int, error) {
	if d.timeout > 0 {
		_ = d.Conn.SetReadDeadline(time.Now().Add(d.timeout))
	}
	return d.Conn.Read(b)
}

// Handshake completes TLS on a data connection that has carried no bytes,
// as the library asks before closing an empty upload.
func (d *dataConn) Handshake() error {
	c := d.Conn
	if ac, ok := c.(*acceptConn); ok {
		var err error
		if c, err = ac.accept(); err != nil {
			return err
		}
	}
	if tc, ok := c.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(d.timeout))
		return tc.Handshake()
	}
	return nil
}

// Write writes under a deadline.
func (d *dataConn) Write(b []byte) (int, error) {
	d.wrote = true
	if d.timeout > 0 {
		_ = d.Conn.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	return d.Conn.Write(b)
}

// copyBufs are the buffers of uploads: io.Copy's 32 KiB default costs a
// read and a write system call per 32 KiB.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// ReadFrom uploads r with a large buffer; io.Copy (as the library's STOR
// calls it) uses it.
func (d *dataConn) ReadFrom(r io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	return io.CopyBuffer(writerOnly{d}, r, *buf)
}

// writerOnly hides ReadFrom, so that CopyBuffer does not call it again.
type writerOnly struct{ io.Writer }

// Close ends a TLS upload gracefully: it half-closes, then reads until the
// server closes its side. Closing a socket with unread bytes in it sends a
// reset instead of the end of the stream, and a TLS 1.3 server always
// sends session tickets that the client never reads: vsftpd then loses
// the upload ("426 Failure reading network stream").
func (d *dataConn) Close() error {
	c := d.Conn
	if ac, ok := c.(*acceptConn); ok {
		c = ac.accepted()
	}
	if tc, ok := c.(*tls.Conn); ok && d.wrote && tc.CloseWrite() == nil {
		_ = tc.SetReadDeadline(time.Now().Add(d.timeout))
		_, _ = io.Copy(io.Discard, io.LimitReader(tc, 1<<20))
	}
	return d.Conn.Close()
}

// abort closes at once, under TLS without the close_notify that Close
// would try to send, which would wait behind a write blocked on the peer.
func (d *dataConn) abort() error {
	switch c := d.Conn.(type) {
	case *acceptConn:
		return c.abort()
	case *tls.Conn:
		return c.NetConn().Close()
	}
	return d.Conn.Close()
}

// deadlineReader hides dataConn's other methods from io.Copy, which would
// otherwise pick WriterTo/ReaderFrom paths that skip the deadline.
type deadlineReader struct{ d *dataConn }

func (r deadlineReader) Read(b []byte) (int, error) { return r.d.read(b) }
