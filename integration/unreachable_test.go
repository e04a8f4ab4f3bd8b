package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// timeErr runs fn and says how long it took.
func timeErr(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// runCmd runs a command with a deadline and returns its error with its
// output.
func runCmd(name string, args ...string) error {
	out, err := exec.Command("timeout", append([]string{"90", name}, args...)...).CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

// logLines returns the mount's log lines holding s.
func logLines(m *Mount, s string) []string {
	var out []string
	for _, l := range strings.Split(m.Log(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// awaitLog polls the mount's log for a line holding s, for up to d.
func awaitLog(t *testing.T, m *Mount, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(logLines(m, s)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within %v\n%s", s, d, tail(m.Log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerGone stops the server under a mount (connects refused), once
// the listings cached at the mount have expired: the first operation
// spends retry_timeout (3 s) and finds out; then stat, ls
// and cp of a new file fail with EIO within a second; the log says so in
// one WARN line; once the server is back the probe finds it (one INFO),
// and the first operation then succeeds.
func TestServerGone(t *testing.T) {
	RequireFUSE(t)
	// vsftpd's session processes outlive its master: killed, it still
	// serves the sessions open.
	for _, kind := range []string{KindPureFTPd, KindPyftpdlib} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"d1", "d2", "d3", "d4"} {
				must(t, os.Mkdir(filepath.Join(root, d), 0o755))
			}
			write(t, filepath.Join(root, "d4", "old"), []byte("old"))
			src := filepath.Join(t.TempDir(), "src")
			data := randomBytes(41, 100<<10)
			write(t, src, data)
			srv := StartServer(t, kind, root)
			m := MountServer(t, srv, "timeout=2", "retry_timeout=3", "cache_timeout=1")
			srv.Kill(t)
			time.Sleep(1500 * time.Millisecond) // what was listed at the mount expires
			took, err := timeErr(func() error { _, err := os.Stat(filepath.Join(m.Dir, "d1", "x")); return err })
			t.Logf("first stat with the server gone: %v after %v", err, took)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("first stat with the server gone: %v after %v, want EIO\n%s", err, took, tail(m.Log(), 30))
			}
			for _, c := range []struct {
				name string
				fn   func() error
			}{
				{"stat", func() error { _, err := os.Stat(filepath.Join(m.Dir, "d2", "x")); return err }},
				{"ls", func() error { return runCmd("ls", "-l", filepath.Join(m.Dir, "d3")) }},
				{"cp of a new file", func() error { return runCmd("cp", src, filepath.Join(m.Dir, "d4", "new")) }},
				{"ls again", func() error { return runCmd("ls", "-l", filepath.Join(m.Dir, "d3")) }},
			} {
				took, err := timeErr(c.fn)
				t.Logf("%s with the server known gone: %v after %v", c.name, err, took)
				if err == nil || took > time.Second {
					t.Errorf("%s with the server known gone: %v after %v; want a failure within a second", c.name, err, took)
				}
				if err != nil && !errors.Is(err, syscall.EIO) && !strings.Contains(err.Error(), "Input/output error") {
					t.Errorf("%s: %v, want EIO", c.name, err)
				}
			}
			if w := logLines(m, `msg="server unreachable since`); len(w) != 1 || !strings.Contains(w[0], "level=WARN") {
				t.Errorf("log lines saying the server is unreachable: %q, want one WARN\n%s", w, tail(m.Log(), 30))
			}
			// The first operation's failure is logged; those that failed
			// at once are not, one by one.
			if w := logLines(m, `level=WARN msg="operation failed"`); len(w) > 1 {
				t.Errorf("%d WARN lines for failed operations, want 1 at most: %q", len(w), w)
			}
			if out := Run(t, 10*time.Second, Binary(t), "status", m.Dir); !strings.Contains(out, "server:    UNREACHABLE since") {
				t.Errorf("ftpfs status with the server unreachable:\n%s", out)
			}

			srv.Restart(t)
			awaitLog(t, m, "server reachable again", 40*time.Second)
			if l := logLines(m, "server reachable again"); len(l) != 1 || !strings.Contains(l[0], "level=INFO") {
				t.Errorf("log lines saying the server is back: %q, want one INFO", l)
			}
			took, err = timeErr(func() error { return runCmd("ls", "-l", filepath.Join(m.Dir, "d3")) })
			t.Logf("first ls after the server came back: %v after %v", err, took)
			if err != nil {
				t.Fatalf("first ls after the server came back: %v\n%s", err, tail(m.Log(), 30))
			}
			if out := Run(t, 10*time.Second, Binary(t), "status", m.Dir); !strings.Contains(out, "server:    reachable") {
				t.Errorf("ftpfs status with the server back:\n%s", out)
			}
			must(t, runCmd("cp", src, filepath.Join(m.Dir, "d4", "new")))
			mustEqualFile(t, filepath.Join(root, "d4", "new"), data)
		})
	}
}

// TestServerGoneWriteback: with -o writeback, a file written while the
// server is gone is journaled (close succeeds at once); its upload finds
// the server unreachable, is tried again every 5 s (failing at once,
// logged at WARN the first time only), and reaches the server once it is
// back.
func TestServerGoneWriteback(t *testing.T) {
	RequireFUSE(t)
	root := t.TempDir()
	srv := StartServer(t, KindPureFTPd, root)
	// retry_timeout=10: refused connects declare the server unreachable
	// after 5 s.
	m := MountServer(t, srv, "timeout=2", "retry_timeout=10", "writeback", "debug")
	srv.Kill(t)
	data := randomBytes(42, 300<<10)
	took, err := timeErr(func() error { return os.WriteFile(filepath.Join(m.Dir, "queued"), data, 0o644) })
	t.Logf("write of a new file, writeback, server gone: %v after %v", err, took)
	if err != nil || took > 2*time.Second {
		t.Fatalf("write of a new file with the server gone: %v after %v; want it journaled at once", err, took)
	}
	awaitLog(t, m, `msg="server unreachable since`, 15*time.Second)
	if l := logLines(m, `msg="server unreachable since`); !strings.Contains(l[0], "op=stor") {
		t.Errorf("the server was not found unreachable by the queued upload: %q", l)
	}
	awaitLog(t, m, "tries=3", 20*time.Second) // two more attempts, failed at once
	got, err := os.ReadFile(filepath.Join(m.Dir, "queued"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back of the queued file: %d bytes, %v", len(got), err)
	}
	srv.Restart(t)
	deadline := time.Now().Add(45 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(root, "queued")); err == nil && bytes.Equal(b, data) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queued file did not reach the server within 45 s\n%s", tail(m.Log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(logLines(m, `msg="server unreachable since`)); n != 1 {
		t.Errorf("%d lines saying the server is unreachable, want 1", n)
	}
	if n := len(logLines(m, `level=WARN msg="queued operation failed`)); n != 1 {
		t.Errorf("%d WARN lines for the queued upload's retries, want 1\n%s", n, tail(m.Log(), 40))
	}
}
