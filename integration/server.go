package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server kinds that StartServer accepts: real FTP servers started through scripts/ftp-server.
const (
	// KindVsftpd is vsftpd 3.0.3 (LIST only, no MLSD).
	KindVsftpd = "vsftpd"
	// KindPureFTPd is pure-ftpd 1.0.50 (MLSD; lists "." and "..").
	KindPureFTPd = "pure-ftpd"
	// KindProFTPd is proftpd 1.3.8 (MLSD, MFMT, UTF8; Telnet IAC handling on the control connection;
	// SITE CPFR/CPTO through mod_copy).
	KindProFTPd = "proftpd"
	// KindProFTPdDefault is proftpd 1.3.8 in its default configuration: AllowStoreRestart off refuses
	// APPE with "451 PATH: Append/Restart not permitted, try again". It loads mod_copy, as Debian's
	// default modules.conf does.
	KindProFTPdDefault = "proftpd-default"
	// KindPyftpdlib is pyftpdlib 1.5.7 (MLSD, MFMT).
	KindPyftpdlib = "pyftpdlib"
)

// ServerKinds returns the kinds of real FTP servers StartServer can start.
func ServerKinds() []string {
	return []string{KindVsftpd, KindPureFTPd, KindProFTPd, KindProFTPdDefault, KindPyftpdlib}
}

// Login that StartServer gives every server. scripts/ftp-server makes it a system user that owns the
// served directory; every start resets its password, so all servers must share it.
const (
	serverUser     = "ftpfstest"
	serverPassword = "ftpfs-test-pw"
)

// Timeouts for running scripts/ftp-server (its own wait for a login is 15 s).
const (
	serverStartTimeout = 30 * time.Second
	serverStopTimeout  = 30 * time.Second
)

// Port allocation: a control port and serverPasvPorts passive ports form one slot of consecutive
// ports in [portRangeLo, portRangeHi), below Linux's default ephemeral range (32768-60999) so that
// outgoing connections do not take them. pure-ftpd allows half as many sessions as it has passive
// ports, and a test may have two mounts of connections=8 on one server.
const (
	serverPasvPorts = 48
	portRangeLo     = 20000
	portRangeHi     = 32000
	slotSize        = 1 + serverPasvPorts
)

// Exit codes of scripts/ftp-server start.
const (
	exitPortBusy     = 3
	exitNotInstalled = 4
)

// Server is a running FTP server.
//
// A server from StartServer listens on 127.0.0.1 and logs User in chrooted to Root: it shows Root as
// "/". Files created through it belong to the system user User, which also owns Root (StartServer
// chowns it).
type Server struct {
	Kind     string // one of ServerKinds(), or another kind for servers made elsewhere
	Addr     string // Host:Port
	Host     string // 127.0.0.1
	Port     int    // control port
	User     string // login name
	Password string // login password
	Root     string // absolute path of the served directory on disk
	// TLS is "", "explicit" or "implicit"; CAFile then holds the server's
	// self-signed certificate, for a client to trust.
	TLS    string
	CAFile string

	script    string
	state     string
	startArgs []string // the script's start arguments, for Restart
	stopOnce  sync.Once
	stopErr   error
}

// ServerOption changes how StartServer starts a server.
type ServerOption func(*serverOptions)

type serverOptions struct {
	maxSessions int
	tls         string
	refuse      string
	digest      bool
	maxRate     int
	pasvPorts   int
}

// WithPasvPorts gives the server n passive ports instead of
// serverPasvPorts: a server with fewer ports than sessions.
func WithPasvPorts(n int) ServerOption {
	return func(o *serverOptions) { o.pasvPorts = n }
}

// WithMaxRate caps each session's transfer rate at bytes per second, as
// scripts/ftp-server's --max-rate describes (vsftpd's local_max_rate,
// pure-ftpd's -T).
func WithMaxRate(bytes int) ServerOption {
	return func(o *serverOptions) { o.maxRate = bytes }
}

// WithDigest loads proftpd's mod_digest (HASH and XSHA256 and the like),
// as scripts/ftp-server's --digest describes; StartServer skips the test
// when the module is not installed.
func WithDigest() ServerOption {
	return func(o *serverOptions) { o.digest = true }
}

// WithRefuse makes a pyftpdlib server refuse the commands named in spec, "CMD[=HOW],...", as
// scripts/ftp-server's --refuse describes (HOW: 500, 502, 451 or oops).
func WithRefuse(spec string) ServerOption {
	return func(o *serverOptions) { o.refuse = spec }
}

// WithTLS serves FTPS, "explicit" (AUTH TLS) or "implicit", with a fresh
// self-signed certificate for 127.0.0.1, with each server's default TLS
// settings otherwise (vsftpd's require_ssl_reuse=YES among them).
func WithTLS(mode string) ServerOption {
	return func(o *serverOptions) { o.tls = mode }
}

// WithMaxSessions limits the server to n concurrent sessions (control connections); further ones are
// refused at connect or login time, depending on the server.
func WithMaxSessions(n int) ServerOption {
	return func(o *serverOptions) { o.maxSessions = n }
}

// StartServer starts a real server of the given kind serving root (a directory the caller made),
// on free ports, registers t.Cleanup to stop it, and skips the test (t.Skip with the reason) if the
// server's binary is not installed (or the test does not run as root). It fails the test on any other
// error. root is chowned recursively to the server's login user.
func StartServer(t testing.TB, kind, root string, opts ...ServerOption) *Server {
	t.Helper()
	var o serverOptions
	for _, opt := range opts {
		opt(&o)
	}
	script, err := findServerScript()
	if err != nil {
		t.Fatalf("StartServer(%s): %v", kind, err)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skipf("StartServer(%s): bash is not installed", kind)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatalf("StartServer(%s): %v", kind, err)
	}
	s := &Server{
		Kind:     kind,
		Host:     "127.0.0.1",
		User:     serverUser,
		Password: serverPassword,
		Root:     absRoot,
		script:   script,
		state:    t.TempDir(),
	}
	// Registered before starting, so a start that fails halfway is cleaned up too. It runs before
	// the removal of s.state (cleanups run last-registered first).
	t.Cleanup(func() {
		if t.Failed() {
			s.logTail(t)
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stopping %s: %v", kind, err)
		}
	})

	const attempts = 5
	pasvPorts := serverPasvPorts
	if o.pasvPorts > 0 {
		pasvPorts = o.pasvPorts
	}
	for attempt := 1; ; attempt++ {
		port, err := allocPorts()
		if err != nil {
			t.Fatalf("StartServer(%s): %v", kind, err)
		}
		args := []string{s.script, "start", kind,
			"--root", s.Root,
			"--port", strconv.Itoa(port),
			"--pasv", fmt.Sprintf("%d-%d", port+1, port+pasvPorts),
			"--user", s.User,
			"--password", s.Password,
			"--state", s.state,
		}
		if o.maxSessions > 0 {
			args = append(args, "--max-sessions", strconv.Itoa(o.maxSessions))
		}
		if o.maxRate > 0 {
			args = append(args, "--max-rate", strconv.Itoa(o.maxRate))
		}
		if o.refuse != "" {
			args = append(args, "--refuse", o.refuse)
		}
		if o.digest {
			args = append(args, "--digest", "on")
		}
		if o.tls != "" {
			args = append(args, "--tls", o.tls)
			s.TLS, s.CAFile = o.tls, filepath.Join(s.state, "cert.pem")
		}
		code, out, err := runScript(serverStartTimeout, args...)
		switch {
		case err == nil:
			s.startArgs = args
			s.Port = port
			s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
			return s
		case code == exitNotInstalled:
			t.Skipf("StartServer(%s): %s", kind, out)
		case code == exitPortBusy && attempt < attempts:
			continue // another process took a port between our probe and the server's bind
		}
		t.Fatalf("StartServer(%s): %v: %s", kind, err, out)
	}
}

// Kill stops the server at once, as a crash would, leaving its state for
// Restart.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if _, out, err := runScript(serverStopTimeout, s.script, "stop", "--state", s.state); err != nil {
		t.Fatalf("stopping %s: %v: %s", s.Kind, err, out)
	}
}

// Restart starts the server again on the same ports after Kill.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if _, out, err := runScript(serverStartTimeout, s.startArgs...); err != nil {
		t.Fatalf("restarting %s: %v: %s", s.Kind, err, out)
	}
}

// PasvRange returns the server's passive port range.
func (s *Server) PasvRange() (lo, hi int) {
	return s.Port + 1, s.Port + serverPasvPorts
}

// Stop stops a server that StartServer started (TERM, then KILL); on other servers it does nothing.
// It is safe to call more than once; StartServer's cleanup calls it too.
func (s *Server) Stop() error {
	if s.script == "" {
		return nil
	}
	s.stopOnce.Do(func() {
		_, out, err := runScript(serverStopTimeout, s.script, "stop", "--state", s.state)
		if err != nil {
			s.stopErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	return s.stopErr
}

// URL returns the ftp:// URL of path (slash-separated, relative to Root) with the login in it, for
// clients such as curl. Path bytes other than unreserved characters are percent-encoded.
func (s *Server) URL(path string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ftp://%s:%s@%s/", s.User, s.Password, s.Addr)
	for _, c := range []byte(strings.TrimPrefix(path, "/")) {
		if c == '/' || c == '-' || c == '.' || c == '_' || c == '~' ||
			'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// logTail logs the end of the server's log files, to explain a failed test.
func (s *Server) logTail(t testing.TB) {
	logs, _ := filepath.Glob(filepath.Join(s.state, "*.log"))
	for _, name := range logs {
		data, err := os.ReadFile(name)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
		t.Logf("%s %s (last lines):\n%s", s.Kind, filepath.Base(name), strings.Join(lines, "\n"))
	}
}

// runScript runs bash with args and returns the exit code (-1 if it did not exit normally) and its
// trimmed combined output.
func runScript(timeout time.Duration, args ...string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%v (timed out after %v)", err, timeout)
		}
	}
	return code, strings.TrimSpace(string(out)), err
}

var (
	scriptOnce sync.Once
	scriptPath string
	scriptErr  error
)

// findServerScript finds scripts/ftp-server in the module root: upwards from the working directory
// (go test runs in the package directory), else next to this source file.
func findServerScript() (string, error) {
	scriptOnce.Do(func() {
		var dirs []string
		if wd, err := os.Getwd(); err == nil {
			dirs = append(dirs, wd)
		}
		if _, file, _, ok := runtime.Caller(0); ok {
			dirs = append(dirs, filepath.Dir(file))
		}
		for _, dir := range dirs {
			for {
				p := filepath.Join(dir, "scripts", "ftp-server")
				if _, err := os.Stat(p); err == nil {
					scriptPath = p
					return
				}
				parent := filepath.Dir(dir)
				if parent == dir {
					break
				}
				dir = parent
			}
		}
		scriptErr = errors.New("scripts/ftp-server not found above the working directory")
	})
	return scriptPath, scriptErr
}

// nextSlot counts the slots handed out in this process. Slots start at an offset taken from the pid,
// so that test binaries running at the same time (go test ./... runs packages in parallel) are
// unlikely to probe the same ports first.
var nextSlot atomic.Int64

// allocPorts returns a control port p such that p..p+serverPasvPorts are free on 127.0.0.1 right now.
func allocPorts() (int, error) {
	slots := int64((portRangeHi - portRangeLo) / slotSize)
	base := int64(os.Getpid()) * 7919
	for range slots {
		slot := (base + nextSlot.Add(1)) % slots
		port := portRangeLo + int(slot)*slotSize
		if portsFree(port, slotSize) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports in %d-%d", slotSize, portRangeLo, portRangeHi)
}

// portsFree reports whether n ports from first on can be bound on 127.0.0.1.
func portsFree(first, n int) bool {
	for p := first; p < first+n; p++ {
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
