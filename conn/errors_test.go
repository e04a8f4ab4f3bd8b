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
