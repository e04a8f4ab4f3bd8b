package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ftpsRoundTrip writes a file through m, compares it with the server's
// disk and reads it back through a second mount with the same options.
func ftpsRoundTrip(t *testing.T, srv *Server, opts ...string) *Mount {
	t.Helper()
	m := MountServer(t, srv, opts...)
	data := randomBytes(41, 2<<20+3)
	if err := os.WriteFile(filepath.Join(m.Dir, "f.bin"), data, 0o644); err != nil {
		t.Fatalf("write: %v\n%s", err, tail(m.Log(), 30))
	}
	mustEqualFile(t, filepath.Join(srv.Root, "f.bin"), data)
	if names := strings.Join(dirNames(t, m.Dir), ","); names != "f.bin" {
		t.Errorf("listing: %s", names)
	}
	m2 := MountServer(t, srv, opts...)
	if got, err := os.ReadFile(filepath.Join(m2.Dir, "f.bin")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back: %d bytes, %v\n%s", len(got), err, tail(m2.Log(), 30))
	}
	return m
}

// TestFTPSClearData: tls_data=clear keeps the control connection under
// TLS and sends PROT C; pure-ftpd (-Y 2 requires TLS on the control
// connection only) takes it, in passive and active mode.
func TestFTPSClearData(t *testing.T) {
	RequireFUSE(t)
	for _, mode := range []string{"passive", "active"} {
		t.Run(mode, func(t *testing.T) {
			srv := startTLS(t, KindPureFTPd, "explicit", t.TempDir())
			opts := []string{"tls", "tls_data=clear", "cafile=" + srv.CAFile, "debug"}
			if mode == "active" {
				opts = append(opts, "active")
			}
			m := ftpsRoundTrip(t, srv, opts...)
			if !strings.Contains(m.Log(), `cmd="PROT C"`) || strings.Contains(m.Log(), `cmd="PROT P"`) {
				t.Errorf("PROT C was not what was sent:\n%s", tail(m.Log(), 30))
			}
		})
	}
}

// TestFTPSClearDataRefused: servers that require protected data refuse
// PROT C, at PROT (proftpd, "TLSRequired auth+data": the mount fails) or
// at the transfer (vsftpd's force_local_data_ssl=YES, its default, and the
// in-process server: the listing fails); either way the message names
// the option to drop.
func TestFTPSClearDataRefused(t *testing.T) {
	RequireFUSE(t)
	t.Run("proftpd", func(t *testing.T) {
		srv := startTLS(t, KindProFTPd, "explicit", t.TempDir())
		mnt := refusedMountpoint(t)
		code, out := runFtpfs(t, []string{"FTPFS_PASSWORD=" + srv.Password}, "-f", "127.0.0.1:", mnt,
			"-o", "tls,tls_data=clear,cafile="+srv.CAFile+",user="+srv.User+",port="+itoa(srv.Port))
		out = strings.TrimSpace(out)
		if code == 0 || !strings.Contains(out, "drop -o tls_data=clear") || strings.Contains(out, "\n") {
			t.Errorf("exit %d: %q", code, out)
		}
		if IsMounted(mnt) {
			t.Error("mounted")
		}
	})
	// These refuse at the first transfer: the mount's listing of its root.
	for _, kind := range []string{KindVsftpd, KindInProcess} {
		t.Run(kind, func(t *testing.T) {
			srv := startTLS(t, kind, "explicit", t.TempDir())
			mnt := refusedMountpoint(t)
			code, out := runFtpfs(t, []string{"FTPFS_PASSWORD=" + srv.Password}, "-f", "127.0.0.1:", mnt,
				"-o", "tls,tls_data=clear,retry_timeout=1,cafile="+srv.CAFile+",user="+srv.User+",port="+itoa(srv.Port))
			// In the foreground the log shares stderr: the error is the
			// last line (ftpserverlib's 421 is retried first).
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if last := lines[len(lines)-1]; code == 0 || !strings.HasPrefix(last, "ftpfs: ") || !strings.Contains(last, "drop -o tls_data=clear") {
				t.Errorf("exit %d: %q", code, out)
			}
			if IsMounted(mnt) {
				t.Error("mounted")
			}
		})
	}
}

// TestFTPSCCC: tls_ccc clears the control connection after the login
// (proftpd's mod_tls implements CCC); reading and writing go on, in
// passive and in active mode (the NAT case CCC is for), explicit and
// implicit.
func TestFTPSCCC(t *testing.T) {
	RequireFUSE(t)
	for _, c := range []struct{ mode, data string }{
		{"explicit", "passive"}, {"explicit", "active"}, {"implicit", "active"},
	} {
		t.Run(c.mode+"-"+c.data, func(t *testing.T) {
			srv := startTLS(t, KindProFTPd, c.mode, t.TempDir())
			opts := []string{tlsOption(c.mode), "tls_ccc", "cafile=" + srv.CAFile, "debug"}
			if c.data == "active" {
				opts = append(opts, "active")
			}
			m := ftpsRoundTrip(t, srv, opts...)
			if !strings.Contains(m.Log(), "200 Clearing control channel protection") {
				t.Errorf("no CCC in the transcript:\n%s", tail(m.Log(), 30))
			}
		})
	}
}

// TestFTPSCCCRefused: vsftpd has no CCC; the mount fails with a line
// naming the option.
func TestFTPSCCCRefused(t *testing.T) {
	RequireFUSE(t)
	srv := startTLS(t, KindVsftpd, "explicit", t.TempDir())
	mnt := refusedMountpoint(t)
	code, out := runFtpfs(t, []string{"FTPFS_PASSWORD=" + srv.Password}, "-f", "127.0.0.1:", mnt,
		"-o", "tls,tls_ccc,cafile="+srv.CAFile+",user="+srv.User+",port="+itoa(srv.Port))
	out = strings.TrimSpace(out)
	if code == 0 || !strings.Contains(out, "ccc") || !strings.Contains(out, "drop -o tls_ccc") || strings.Contains(out, "\n") {
		t.Errorf("exit %d: %q", code, out)
	}
	if IsMounted(mnt) {
		t.Error("mounted")
	}
}

// waitLog waits up to five seconds for s in m's log, which reaches the
// test through a pipe a moment after the failure it reports.
func waitLog(m *Mount, s string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if strings.Contains(m.Log(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// refusedMountpoint is a mount point for a mount expected to fail; should
// it succeed, ftpfs (killed when runFtpfs times out) would leave it
// mounted, so cleanup detaches it.
func refusedMountpoint(t *testing.T) string {
	mnt := t.TempDir()
	t.Cleanup(func() {
		if IsMounted(mnt) {
			Run(t, 10*time.Second, "umount", "-l", mnt)
		}
	})
	return mnt
}
