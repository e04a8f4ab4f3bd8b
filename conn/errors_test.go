package conn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"net/textproto"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

func TestClassify(t *testing.T) {
	reply := func(code int, msg string) error { return &textproto.Error{Code: code, Msg: msg} }
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"vsftpd missing file", reply(550, "Failed to open file."), iofs.ErrNotExist},
		{"proftpd missing file", reply(550, "/x: No such file or directory"), iofs.ErrNotExist},
		{"proftpd permission", reply(550, "/x: Permission denied"), iofs.ErrPermission},
		{"pure-ftpd exists", reply(550, "File exists"), iofs.ErrExist},
		{"login incorrect", reply(530, "Login incorrect."), iofs.ErrPermission},
		{"bad file name", reply(553, "Could not create file."), iofs.ErrPermission},
		{"quota", reply(552, "Quota exceeded"), ErrNoSpace},
		{"disk full", reply(452, "Insufficient storage"), ErrNoSpace},
		{"vsftpd disk full", reply(451, "Failure writing to local file."), ErrNoSpace},
		{"pure-ftpd disk full", reply(451, "Error during write to file\nTransfer aborted"), ErrNoSpace},
		{"proftpd disk full", reply(452, "Transfer aborted. No space left on device"), ErrNoSpace},
		{"ftpserverlib disk full", reply(550, "Issue during transfer: network error: error transferring data: write /srv/.f.ftpfs-part: no space left on device"), ErrNoSpace},
		{"proftpd default, disk full", reply(451, "Transfer aborted. Input/output error"), errServerIO},
		{"disk full, data connection reset", errors.Join(&net.OpError{Op: "write", Err: syscall.ECONNRESET}, reply(451, "Failure writing to local file.")), ErrNoSpace},
		{"not implemented", reply(502, "Command not implemented."), ErrNotSupported},
		{"service closing", reply(421, "Timeout."), ErrTransient},
		{"no data connection", reply(425, "Can't open data connection."), ErrTransient},
		{"transfer aborted", reply(426, "Failure writing network stream."), ErrTransient},
		{"local error", reply(451, "Local error"), ErrTransient},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, ErrTransient},
		{"eof", io.EOF, ErrTransient},
		{"joined with network error", errors.Join(io.ErrUnexpectedEOF, reply(226, "ok")), ErrTransient},
		{"crlf in name", ftp.ErrInvalidCommand, iofs.ErrInvalid},
	}
	for _, c := range cases {
		err := wrapErr("op", "/p", c.err)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v does not unwrap to %v", c.name, err, c.want)
		}
		if c.want != ErrTransient && IsTransient(err) {
			t.Errorf("%s: %v is marked transient", c.name, err)
		}
		if c.want == ErrNoSpace && errors.Is(err, ErrMaybeDenied) {
			t.Errorf("%s: %v may be read as a refusal", c.name, err)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	err := wrapErr("retr", "/a b", &textproto.Error{Code: 550, Msg: "No such\nfile"})
	if got, want := err.Error(), "retr /a b: 550 No such file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if wrapErr("x", "", nil) != nil {
		t.Error("wrapErr(nil) != nil")
	}
	inner := wrapErr("a", "/", io.EOF)
	if outer := wrapErr("b", "/", fmt.Errorf("ctx: %w", inner)); !errors.Is(outer, inner) {
		t.Error("an *Error was wrapped twice")
	}
}

func TestMaskCommand(t *testing.T) {
	cases := map[string]string{
		"PASS secret":     "PASS ****",
		"pass with space": "pass ****",
		"ACCT acct":       "ACCT ****",
		"USER bob":        "USER bob",
		"PASS":            "PASS",
		"RETR /PASS word": "RETR /PASS word",
	}
	for in, want := range cases {
		if got := maskCommand(in); got != want {
			t.Errorf("maskCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFeatures(t *testing.T) {
	c := &ctlConn{}
	c.lastVerb = "FEAT"
	c.observe([]byte("211-Features:\r\n MLST type*;size*;modify*;\r\n mfmt\r\n REST STREAM\r"))
	c.observe([]byte("\n UTF8\r\n211 End\r\n"))
	f := c.features()
	for name, param := range map[string]string{"MLST": "type*;size*;modify*;", "MFMT": "", "REST": "STREAM", "UTF8": ""} {
		if got, ok := f[name]; !ok || got != param {
			t.Errorf("feature %s = %q, %v; want %q", name, got, ok, param)
		}
	}
	if len(f) != 4 {
		t.Errorf("features = %v, want 4", f)
	}
}

func TestHidePRET(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		buf := make([]byte, 100)
		server.Write([]byte("220---------- Welcome to Pure-FTPd [privsep] ----------\r\n220 You will be disconnected after 15 minutes.\r\n"))
		server.Read(buf)
		server.Write([]byte("211-Extensions supported:\r\n EPRT\r\n PRET\r\n"))
		server.Write([]byte(" MLST size*;\r\n211 End.\r\n"))
	}()
	c := newCtlConn(client, time.Second, nil, nil)
	greeting := make([]byte, 200)
	n, _ := io.ReadAtLeast(c, greeting, 20)
	for !bytes.Contains(greeting[:n], []byte("minutes.\r\n")) {
		m, _ := c.Read(greeting[n:])
		n += m
	}
	c.Write([]byte("FEAT\r\n"))
	feat, err := io.ReadAll(io.LimitReader(c, 200))
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if bytes.Contains(feat, []byte("PRET")) || !bytes.Contains(feat, []byte("MLST")) || !bytes.HasSuffix(feat, []byte("211 End.\r\n")) {
		t.Errorf("FEAT as the library sees it: %q", feat)
	}
	if _, ok := c.features()["PRET"]; ok {
		t.Error("PRET still among the features")
	}
}

// TestReplyKinds sorts replies into refusals of a command (done another
// way, learnt once), transient failures (retried) and dead sessions
// (retried on a new session), as ftpfs meets them on real servers.
func TestReplyKinds(t *testing.T) {
	reply := func(code int, msg string) error { return &textproto.Error{Code: code, Msg: msg} }
	const (
		refusal   = "refusal"
		transient = "transient"
		neither   = "neither"
	)
	cases := []struct {
		name string
		err  error
		want string
		is   error // a sentinel it must also unwrap to, if any
	}{
		{"proftpd default APPE", reply(451, "/app.log: Append/Restart not permitted, try again"), refusal, iofs.ErrPermission},
		{"MLSD not understood", reply(500, "MLSD: command not understood"), refusal, ErrNotSupported},
		{"pyftpdlib unknown", reply(500, `Command "PRET" not understood.`), refusal, ErrNotSupported},
		{"vsftpd SITE", reply(500, "Unknown SITE command."), refusal, ErrNotSupported},
		{"not implemented", reply(502, "Command not implemented."), refusal, ErrNotSupported},
		{"parameter not implemented", reply(504, "Command not implemented for that parameter."), refusal, ErrNotSupported},
		{"4xx not allowed", reply(450, "REST not allowed"), refusal, iofs.ErrPermission},
		{"5xx disabled", reply(534, "SITE CHMOD disabled by configuration"), refusal, nil},
		{"451 local error", reply(451, "Local error in processing"), transient, nil},
		{"451 transfer aborted", reply(451, "Transfer aborted. Broken pipe"), transient, nil},
		{"450 busy", reply(450, "File unavailable, try again"), transient, nil},
		{"421 timeout", reply(421, "Timeout."), transient, nil},
		{"425", reply(425, "Can't open data connection."), transient, nil},
		{"vsftpd OOPS", reply(500, "OOPS: priv_sock_get_cmd"), transient, nil},
		{"vsftpd OOPS at login", reply(500, "OOPS: vsftpd: refusing to run with writable root inside chroot()"), transient, nil},
		{"550 permission", reply(550, "/x: Permission denied"), neither, iofs.ErrPermission},
		{"proftpd MFMT on another's file", reply(501, "/late.log: Operation not permitted"), neither, nil},
		{"proftpd SITE CHMOD on another's file", reply(550, "/late.log: Operation not permitted"), neither, nil},
		{"550 unclear", reply(550, "Failed to open file."), neither, ErrMaybeDenied},
		{"pure-ftpd 550", reply(550, "Can't check for file existence"), neither, ErrMaybeDenied},
		{"553", reply(553, "Could not create file: not allowed."), neither, iofs.ErrPermission},
		{"pyftpdlib too long", reply(500, "Command too long."), neither, ErrNameTooLong},
		{"network", io.ErrUnexpectedEOF, transient, nil},
	}
	for _, c := range cases {
		err := wrapErr("op", "/p", c.err)
		got := neither
		switch {
		case refused(err):
			got = refusal
		case IsTransient(err):
			got = transient
		}
		if got != c.want {
			t.Errorf("%s: %v is a %s, want a %s", c.name, err, got, c.want)
		}
		if c.want == refusal && IsTransient(err) {
			t.Errorf("%s: %v is a refusal and transient", c.name, err)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v does not unwrap to %v", c.name, err, c.is)
		}
		if c.want == neither && errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: %v unwraps to ErrNotSupported", c.name, err)
		}
	}
}

// TestDeadSessionAndUnsupported checks the two ways conn re-marks a reply:
// a reply after which the server hung up is transient whatever it said,
// and a refused optional command is ErrNotSupported whatever its code.
func TestDeadSessionAndUnsupported(t *testing.T) {
	refusedAppe := &textproto.Error{Code: 451, Msg: "/f: Append/Restart not permitted, try again"}
	u := asUnsupported("appe", "/f", refusedAppe)
	if !errors.Is(u, ErrNotSupported) || IsTransient(u) || errors.Is(u, iofs.ErrPermission) {
		t.Errorf("asUnsupported: %v", u)
	}
	if got, want := u.Error(), "appe /f: 451 /f: Append/Restart not permitted, try again"; got != want {
		t.Errorf("asUnsupported keeps the reply: %q, want %q", got, want)
	}
	d := deadSession(wrapErr("mkd", "/d", &textproto.Error{Code: 550, Msg: "Create directory operation failed."}))
	if !IsTransient(d) || errors.Is(d, iofs.ErrNotExist) || refused(d) {
		t.Errorf("deadSession: %v", d)
	}
	if deadSession(io.EOF) != io.EOF {
		t.Error("deadSession changed an error that is not a reply")
	}
}
