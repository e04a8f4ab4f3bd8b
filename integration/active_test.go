package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// activeRoundTrip mounts srv in active mode (plus opts), writes a file and
// compares it with the server's disk, lists, and reads a file the server
// had and the written one back through a second mount. It checks that the
// transcript announced data ports (EPRT or PORT) and sent no passive
// command, and returns the first mount's log.
func activeRoundTrip(t *testing.T, srv *Server, opts ...string) string {
	t.Helper()
	had := randomBytes(31, 1<<20+17)
	if err := os.WriteFile(filepath.Join(srv.Root, "had.bin"), had, 0o644); err != nil {
		t.Fatal(err)
	}
	if srv.Kind != KindInProcess && srv.Kind != KindInProcessLIST {
		// Files put in the root by the test must belong to the server's user.
		Run(t, 10*time.Second, "chown", srv.User, filepath.Join(srv.Root, "had.bin"))
	}
	opts = append([]string{"active", "debug"}, opts...)
	m := MountServer(t, srv, opts...)
	data := randomBytes(32, 3<<20+5)
	if err := os.WriteFile(filepath.Join(m.Dir, "written.bin"), data, 0o644); err != nil {
		t.Fatalf("write: %v\n%s", err, tail(m.Log(), 40))
	}
	mustEqualFile(t, filepath.Join(srv.Root, "written.bin"), data)
	if names := strings.Join(dirNames(t, m.Dir), ","); names != "had.bin,written.bin" {
		t.Errorf("listing: %s", names)
	}
	m2 := MountServer(t, srv, opts...)
	for name, want := range map[string][]byte{"had.bin": had, "written.bin": data} {
		got, err := os.ReadFile(filepath.Join(m2.Dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("read %s: %d bytes, %v\n%s", name, len(got), err, tail(m2.Log(), 40))
		}
	}
	log := m.Log() + m2.Log()
	if !regexp.MustCompile(`cmd="(EPRT|PORT) `).MatchString(log) {
		t.Errorf("no EPRT or PORT in the transcript:\n%s", tail(log, 30))
	}
	if regexp.MustCompile(`cmd=(EPSV|PASV)\b`).MatchString(log) {
		t.Errorf("a passive command was sent in active mode:\n%s", tail(log, 30))
	}
	return log
}

// TestActive reads and writes in active mode on every server.
func TestActive(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			activeRoundTrip(t, StartKind(t, kind, t.TempDir()))
		})
	}
}

// TestActivePORTFallback: pyftpdlib made to refuse EPRT gets PORT, learned
// once per mount and said once in the log.
func TestActivePORTFallback(t *testing.T) {
	RequireFUSE(t)
	srv := StartServer(t, KindPyftpdlib, t.TempDir(), WithRefuse("EPRT"))
	log := activeRoundTrip(t, srv)
	// Two mounts: each learns once (sessions that start a transfer at
	// the same moment may both try EPRT first).
	eprt, port := strings.Count(log, `cmd="EPRT `), strings.Count(log, `cmd="PORT `)
	if eprt < 2 || eprt >= port {
		t.Errorf("EPRT sent %d times and PORT %d over two mounts: EPRT was not learned", eprt, port)
	}
	if n := strings.Count(log, "refused EPRT"); n != 2 {
		t.Errorf("the fallback logged %d times over two mounts, want 2", n)
	}
	if !strings.Contains(log, `cmd="PORT 127,0,0,1,`) {
		t.Errorf("no PORT in the transcript:\n%s", tail(log, 30))
	}
}

// TestActiveFTPS: in active mode over FTPS ftpfs accepts the data
// connection and stays its TLS client, resuming the control connection's
// session (vsftpd and proftpd require it).
func TestActiveFTPS(t *testing.T) {
	RequireFUSE(t)
	for _, c := range tlsCases {
		t.Run(c.kind+"-"+c.mode, func(t *testing.T) {
			srv := startTLS(t, c.kind, c.mode, t.TempDir())
			log := activeRoundTrip(t, srv, tlsOption(c.mode), "cafile="+srv.CAFile)
			if !strings.Contains(log, `cmd="PROT P"`) {
				t.Errorf("no PROT P in the transcript")
			}
		})
	}
}

// TestActiveAddressRefused: vsftpd (port_promiscuous=NO, its default) and
// the in-process server connect only to their client's own address, so
// announcing another is refused: the mount fails at its first listing,
// with one line that says why and what to do.
func TestActiveAddressRefused(t *testing.T) {
	RequireFUSE(t)
	for _, kind := range []string{KindVsftpd, KindInProcess} {
		t.Run(kind, func(t *testing.T) {
			srv := StartKind(t, kind, t.TempDir())
			mnt := refusedMountpoint(t)
			code, out := runFtpfs(t, []string{"FTPFS_PASSWORD=" + srv.Password}, "-f", "127.0.0.1:", mnt,
				"-o", "active=127.0.0.3,retry_timeout=1,user="+srv.User+",port="+itoa(srv.Port))
			out = strings.TrimSpace(out)
			if code == 0 || !strings.Contains(out, "passive mode") || !strings.Contains(out, "-o active=127.0.0.3") || strings.Contains(out, "\n") {
				t.Errorf("exit %d: %q", code, out)
			}
			if IsMounted(mnt) {
				t.Error("mounted")
			}
		})
	}
}

// TestSourceAddress mounts with source_address=127.0.0.2, passive and
// active, reads and writes, and checks with ss(8) that every connection
// the server has comes from 127.0.0.2.
func TestSourceAddress(t *testing.T) {
	RequireFUSE(t)
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss is not installed")
	}
	for _, mode := range []string{"passive", "active"} {
		t.Run(mode, func(t *testing.T) {
			root := t.TempDir()
			srv := StartServer(t, KindVsftpd, root)
			opts := []string{"source_address=127.0.0.2", "debug"}
			if mode == "active" {
				opts = append(opts, "active")
			}
			m := MountServer(t, srv, opts...)
			data := randomBytes(33, 1<<20)
			write(t, filepath.Join(m.Dir, "f"), data)
			mustEqualFile(t, filepath.Join(root, "f"), data)
			if got, err := os.ReadFile(filepath.Join(m.Dir, "f")); err != nil || !bytes.Equal(got, data) {
				t.Errorf("read back: %d bytes, %v", len(got), err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "ss", "-Htn", "state", "established",
				"( dport = :"+itoa(srv.Port)+" )").Output()
			if err != nil {
				t.Fatalf("ss: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) == 0 || lines[0] == "" {
				t.Fatal("ss shows no connection to the server")
			}
			for _, l := range lines {
				if f := strings.Fields(l); len(f) < 4 || !strings.HasPrefix(f[2], "127.0.0.2:") {
					t.Errorf("a connection not from 127.0.0.2: %s", l)
				}
			}
		})
	}
}
