package integration

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runFtpfs runs the ftpfs binary to completion with a deadline and returns
// its exit code and output.
func runFtpfs(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("ftpfs: %v", err)
	return 0, ""
}

// TestMountFailures checks that each bad input gives one line naming the
// cause, a non-zero exit, and no mount.
func TestMountFailures(t *testing.T) {
	RequireFUSE(t)
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	closed := closedPort(t)
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	port := "port=" + strconv.Itoa(srv.Port)
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"wrong password", []string{"FTPFS_PASSWORD=wrong"}, []string{"127.0.0.1:", "MNT", "-o", port + ",user=ftpfs"}, "530"},
		{"closed port", nil, []string{"127.0.0.1:", "MNT", "-o", "port=" + strconv.Itoa(closed)}, "connection refused"},
		{"missing remote dir", []string{"FTPFS_PASSWORD=secret"}, []string{"127.0.0.1:/no/such/dir", "MNT", "-o", port + ",user=ftpfs"}, "/no/such/dir"},
		{"unknown option", nil, []string{"127.0.0.1:", "MNT", "-o", "bogus=1"}, `unknown option "bogus"`},
		{"bad number", nil, []string{"127.0.0.1:", "MNT", "-o", "connections=lots"}, "connections=lots"},
		{"missing mountpoint", nil, []string{"127.0.0.1:", "/no/such/mountpoint"}, "mountpoint"},
		{"mountpoint is a file", nil, []string{"127.0.0.1:", notDir}, "not a directory"},
		{"no source", nil, []string{"MNT"}, "need SOURCE and MOUNTPOINT"},
		{"bad URL scheme", nil, []string{"http://127.0.0.1/", "MNT"}, "unsupported scheme"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mnt := t.TempDir()
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "MNT", mnt)
			}
			code, out := runFtpfs(t, c.env, append([]string{"-f"}, args...)...)
			if code == 0 {
				t.Fatalf("exit 0, want failure; output:\n%s", out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("output %q does not say %q", out, c.want)
			}
			if strings.Count(strings.TrimSpace(out), "\n") > 1 {
				t.Errorf("more than a short message:\n%s", out)
			}
			if IsMounted(mnt) {
				t.Errorf("%s left mounted", mnt)
				detach(mnt)
			}
		})
	}
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestHelpAndVersion checks the informational flags.
func TestHelpAndVersion(t *testing.T) {
	code, out := runFtpfs(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "Usage: ftpfs") || !strings.Contains(out, "cache_timeout=") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	code, out = runFtpfs(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "ftpfs ") || !strings.HasSuffix(out, " "+runtime.Version()+"\n") {
		t.Errorf("--version: exit %d: %q; want ftpfs, a version and %s", code, out, runtime.Version())
	}
	// The binary names the commit it was built from, when Go recorded one.
	if info, err := exec.Command("go", "version", "-m", Binary(t)).Output(); err == nil {
		for _, line := range strings.Split(string(info), "\n") {
			if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], "vcs.revision=") {
				// Its first 12 digits, as a pseudo-version gives them
				// (v0.0.0-20261201042531-76b3d90b02be), or all of it.
				if rev := strings.TrimPrefix(f[1], "vcs.revision="); len(rev) < 12 || !strings.Contains(out, rev[:12]) {
					t.Errorf("--version %q does not name the revision %s", out, rev)
				}
			}
		}
	}
}

// TestDebugMasksPassword checks that -o debug shows the transcript but
// never the password, and that the mount table names the source and type.
func TestDebugMasksPassword(t *testing.T) {
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	m := MountServer(t, srv, "debug")
	if _, err := os.ReadDir(m.Dir); err != nil {
		t.Fatal(err)
	}
	log := m.Log()
	if !strings.Contains(log, "PASS ****") || !strings.Contains(log, "MLSD") {
		t.Errorf("debug log lacks the transcript:\n%s", log)
	}
	if strings.Contains(log, srv.Password) {
		t.Errorf("debug log shows the password:\n%s", log)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	if !strings.Contains(string(mounts), "127.0.0.1: "+m.Dir+" fuse.ftpfs ") {
		t.Errorf("mount table lacks '127.0.0.1: %s fuse.ftpfs':\n%s", m.Dir, mounts)
	}
}

// TestSignalUnmounts checks that SIGINT unmounts cleanly and ftpfs exits 0.
func TestSignalUnmounts(t *testing.T) {
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	m := MountServer(t, srv)
	_ = m.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-m.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("ftpfs did not exit on SIGINT")
	}
	if code := m.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGINT\n%s", code, m.Log())
	}
	if IsMounted(m.Dir) {
		t.Error("still mounted after SIGINT")
	}
}

// TestOwnershipOptions checks uid=, gid= and umask= on what stat shows.
func TestOwnershipOptions(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := StartInProcess(t, KindInProcessLIST, root)
	m := MountServer(t, srv, "uid=1234", "gid=5678", "umask=027")
	fi, err := os.Stat(filepath.Join(m.Dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1234 || st.Gid != 5678 || fi.Mode().Perm() != 0o640 {
		t.Errorf("uid %d gid %d mode %v; want 1234 5678 -rw-r-----", st.Uid, st.Gid, fi.Mode())
	}
}

// TestMountpointChecks: a non-empty directory and one that is already
// mounted are refused with a message saying so.
func TestMountpointChecks(t *testing.T) {
	RequireFUSE(t)
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "mine"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"FTPFS_PASSWORD=" + srv.Password}
	opts := "port=" + strconv.Itoa(srv.Port) + ",user=" + srv.User
	if code, out := runFtpfs(t, env, "-f", "127.0.0.1:", full, "-o", opts); code == 0 || !strings.Contains(out, "not empty") {
		t.Errorf("non-empty mountpoint: exit %d, %q", code, out)
	}
	m := MountServer(t, srv)
	if code, out := runFtpfs(t, env, "-f", "127.0.0.1:", m.Dir, "-o", opts); code == 0 || !strings.Contains(out, "already mounted") {
		t.Errorf("mounted mountpoint: exit %d, %q", code, out)
	}
}

// TestNoPasswordSaysSo: a user with no password anywhere and no terminal
// is refused at once, before any login, with where a password can come
// from; not an empty PASS and the server's 530 seconds later.
func TestNoPasswordSaysSo(t *testing.T) {
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	mnt := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), "-f", "127.0.0.1:", mnt, "-o",
		"port="+strconv.Itoa(srv.Port)+",user="+srv.User)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal to prompt on
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err == nil || !strings.Contains(string(out), "no password for "+srv.User+"@127.0.0.1") ||
		!strings.Contains(string(out), "FTPFS_PASSWORD") || strings.Contains(string(out), "530") {
		t.Errorf("no password: %v, %q", err, out)
	}
	if took > 3*time.Second {
		t.Errorf("took %v to say so", took)
	}
	if IsMounted(mnt) {
		t.Error("mounted without a password")
		detach(mnt)
	}
}

// TestDeadMountAfterKill: after kill -9 of ftpfs its mount point answers
// ENOTCONN; the next mount there must say that a dead FUSE mount is in the
// way and how to remove it, not that something is mounted.
func TestDeadMountAfterKill(t *testing.T) {
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	m := MountServer(t, srv)
	if _, err := os.Stat(m.Dir); err != nil { // the kernel now has the root's attributes
		t.Fatal(err)
	}
	_ = m.cmd.Process.Kill()
	m.reap()
	defer func() { detach(m.Dir) }()
	code, out := runFtpfs(t, []string{"FTPFS_PASSWORD=" + srv.Password}, "-f", "127.0.0.1:", m.Dir,
		"-o", "port="+strconv.Itoa(srv.Port)+",user="+srv.User)
	want := "mountpoint " + m.Dir + ": a dead FUSE mount is still there; remove it with fusermount3 -u " + m.Dir
	if code == 0 || !strings.Contains(out, want) {
		t.Errorf("mount over a dead mount: exit %d, %q; want %q", code, out, want)
	}
}

// TestBusyUnmountWarning: SIGTERM while a directory of the mount is open
// detaches it lazily, and the warning that says so is one readable line
// (fusermount3's message used to show as a literal \n).
func TestBusyUnmountWarning(t *testing.T) {
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	m := MountServer(t, srv)
	busy, err := os.Open(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("ftpfs did not exit on SIGTERM with the mount busy")
	}
	var warning string
	for _, line := range strings.Split(m.Log(), "\n") {
		if strings.Contains(line, "detaching lazily") {
			warning = line
		}
	}
	if warning == "" {
		t.Fatalf("no lazy-detach warning:\n%s", m.Log())
	}
	if strings.Contains(warning, `\n`) {
		t.Errorf("the warning shows a literal \\n: %s", warning)
	}
	if IsMounted(m.Dir) {
		t.Error("still mounted after the lazy detach")
	}
}
