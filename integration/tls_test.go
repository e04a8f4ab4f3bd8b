package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tlsCases are the FTPS servers tested: the in-process one both ways,
// vsftpd both ways with its default TLS settings (require_ssl_reuse=YES),
// pure-ftpd explicit (it has no implicit mode), proftpd both ways (mod_tls
// from proftpd-mod-crypto, which requires session reuse by default).
// Debian's pyftpdlib resets TLS data connections (curl's too).
var tlsCases = []struct{ kind, mode string }{
	{KindInProcess, "explicit"},
	{KindInProcess, "implicit"},
	{KindVsftpd, "explicit"},
	{KindVsftpd, "implicit"},
	{KindPureFTPd, "explicit"},
	{KindProFTPd, "explicit"},
	{KindProFTPd, "implicit"},
}

func startTLS(t *testing.T, kind, mode, root string) *Server {
	if kind == KindInProcess {
		return StartInProcessTLS(t, kind, root, mode)
	}
	return StartServer(t, kind, root, WithTLS(mode))
}

func tlsOption(mode string) string {
	if mode == "implicit" {
		return "tls=implicit"
	}
	return "tls"
}

// TestFTPS mounts each FTPS server with its certificate trusted through
// cafile=, writes, lists and reads back, and checks that the transcript
// shows protected data connections.
func TestFTPS(t *testing.T) {
	RequireFUSE(t)
	for _, c := range tlsCases {
		t.Run(c.kind+"-"+c.mode, func(t *testing.T) {
			root := t.TempDir()
			srv := startTLS(t, c.kind, c.mode, root)
			m := MountServer(t, srv, tlsOption(c.mode), "cafile="+srv.CAFile, "debug")
			data := randomBytes(21, 3<<20)
			if err := os.WriteFile(filepath.Join(m.Dir, "secret.bin"), data, 0o644); err != nil {
				t.Fatalf("%v\n%s", err, tail(m.Log(), 40))
			}
			mustEqualFile(t, filepath.Join(root, "secret.bin"), data)
			write(t, filepath.Join(m.Dir, "empty"), nil)
			mustEqualFile(t, filepath.Join(root, "empty"), nil)
			if names := dirNames(t, m.Dir); strings.Join(names, ",") != "empty,secret.bin" {
				t.Errorf("listing: %v", names)
			}
			m2 := MountServer(t, srv, tlsOption(c.mode), "cafile="+srv.CAFile)
			got, err := os.ReadFile(filepath.Join(m2.Dir, "secret.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("read back: %d bytes, %v", len(got), err)
			}
			if !strings.Contains(m.Log(), `cmd="PROT P"`) {
				t.Errorf("no PROT P in the transcript:\n%s", tail(m.Log(), 30))
			}
		})
	}
}

// TestFTPSCertificateChecks: an untrusted certificate refuses the mount
// with a message that says so; -o insecure mounts, with a warning.
func TestFTPSCertificateChecks(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindInProcess, KindVsftpd} {
		t.Run(kind, func(t *testing.T) {
			srv := startTLS(t, kind, "explicit", t.TempDir())
			mnt := t.TempDir()
			code, out := runFtpfs(t, []string{"FTPFS_PASSWORD=" + srv.Password}, "-f", "127.0.0.1:", mnt,
				"-o", "tls,user="+srv.User+",port="+itoa(srv.Port))
			if code == 0 || !strings.Contains(out, "not trusted") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
				t.Errorf("untrusted certificate: exit %d, %q", code, out)
			}
			if IsMounted(mnt) {
				t.Error("mounted despite an untrusted certificate")
			}
			m := MountServer(t, srv, "tls", "insecure")
			if _, err := os.ReadDir(m.Dir); err != nil {
				t.Error(err)
			}
			time.Sleep(100 * time.Millisecond)
			if !strings.Contains(m.Log(), "verification is off") {
				t.Errorf("no warning for -o insecure:\n%s", m.Log())
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestTLSRequiredHint: a server that requires TLS, mounted without -o tls,
// refuses the login; the message adds that -o tls is what is missing.
func TestTLSRequiredHint(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindInProcess, KindVsftpd} {
		t.Run(kind, func(t *testing.T) {
			srv := startTLS(t, kind, "explicit", t.TempDir())
			mnt := t.TempDir()
			code, out := runFtpfs(t, []string{"FTPFS_PASSWORD=" + srv.Password}, "-f", "127.0.0.1:", mnt,
				"-o", "user="+srv.User+",port="+itoa(srv.Port))
			if code == 0 || !strings.Contains(out, "mount with -o tls") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
				t.Errorf("TLS required, no -o tls: exit %d, %q", code, out)
			}
			if IsMounted(mnt) {
				t.Error("mounted without TLS")
			}
		})
	}
}
