package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/internal/mountinfo"
)

// Mount is a running ftpfs process and its mount point.
type Mount struct {
	Dir      string // the mount point
	CacheDir string // its cache_dir
	Server   *Server
	cmd      *exec.Cmd
	log      *lockedBuffer
	exited   chan struct{}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/ftpfs once per test process and returns its path; with
// FTPFS_TEST_RACE set, it builds with the race detector.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ftpfs-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ftpfs")
		args := []string{"build", "-o", binPath}
		if os.Getenv("FTPFS_TEST_RACE") != "" {
			args = append(args, "-race") // ftpfs itself under the race detector
		}
		out, err := exec.Command("go", append(args, "../cmd/ftpfs")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// RequireFUSE skips the test where FUSE cannot be used.
func RequireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse: ", err)
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			t.Skip("not root and no fusermount3")
		}
	}
}

// MountServer runs ftpfs in the foreground on a fresh mount point for srv's
// login directory,
// logging in as the server's user with the password passed through a
// password file, plus any extra -o options. It waits until the mount is
// ready and registers its unmount in cleanup.
func MountServer(t testing.TB, srv *Server, extra ...string) *Mount {
	t.Helper()
	RequireFUSE(t)
	bin := Binary(t)
	tmp := t.TempDir()
	mnt := filepath.Join(tmp, "mnt")
	pwFile := filepath.Join(tmp, "password")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte(srv.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(tmp, "cache")
	opts := fmt.Sprintf("port=%d,user=%s,password_file=%s,cache_dir=%s", srv.Port, srv.User, pwFile, cacheDir)
	if len(extra) > 0 {
		opts += "," + strings.Join(extra, ",")
	}
	// The server's login directory is the served root: "host:" mounts it
	// whatever the server's own name for it (a chroot makes it "/").
	args := []string{"-f", srv.Host + ":", mnt, "-o", opts}
	m := startMount(t, bin, args, mnt, srv)
	m.CacheDir = cacheDir
	return m
}

// startMount starts ftpfs with args and waits for mnt to be mounted.
func startMount(t testing.TB, bin string, args []string, mnt string, srv *Server) *Mount {
	t.Helper()
	m := &Mount{Dir: mnt, Server: srv, log: &lockedBuffer{}, exited: make(chan struct{})}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Stdout = m.log
	m.cmd.Stderr = m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.cmd.Wait(); close(m.exited) }()
	watchdog := time.AfterFunc(watchdogDelay(t), func() {
		// A hung mount would block the test (and its cleanup) in the
		// kernel; killing ftpfs aborts the FUSE connection instead.
		_ = m.cmd.Process.Kill()
		_ = exec.Command("umount", "-l", mnt).Run()
	})
	t.Cleanup(func() { watchdog.Stop(); m.Unmount(t) })
	deadline := time.Now().Add(20 * time.Second)
	for !IsMounted(mnt) {
		select {
		case <-m.exited:
			t.Fatalf("ftpfs exited before mounting: %v\n%s", m.cmd.ProcessState, m.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ftpfs did not mount within 20s\n%s", m.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m
}

// watchdogDelay is how long a mount may live: until 30 s before the test
// binary's deadline, or 10 minutes.
func watchdogDelay(t testing.TB) time.Duration {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			return max(time.Until(dl)-30*time.Second, time.Second)
		}
	}
	return 10 * time.Minute
}

// Unmount sends SIGTERM, as a user's Ctrl-C would, waits for ftpfs to exit
// and checks that nothing is left mounted; a stuck mount is detached lazily
// and the process killed, and the test fails.
func (m *Mount) Unmount(t testing.TB) {
	t.Helper()
	select {
	case <-m.exited:
	default:
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(15 * time.Second):
			_ = m.cmd.Process.Kill()
			m.reap()
			t.Errorf("ftpfs did not exit within 15s of SIGTERM\n%s", m.log.String())
		}
	}
	if log := m.log.String(); strings.Contains(log, "WARNING: DATA RACE") || strings.Contains(log, "panic:") {
		t.Errorf("ftpfs reported a data race or a panic:\n%s", log)
	}
	if IsMounted(m.Dir) {
		_ = exec.Command("umount", "-l", m.Dir).Run()
		_ = exec.Command("fusermount3", "-u", "-z", m.Dir).Run()
		t.Errorf("%s still mounted after ftpfs exited", m.Dir)
	}
}

// Log returns what ftpfs has written to stdout and stderr so far.
func (m *Mount) Log() string { return m.log.String() }

// Exited reports whether the ftpfs process has ended.
func (m *Mount) Exited() bool {
	select {
	case <-m.exited:
		return true
	default:
		return false
	}
}

// IsMounted reports whether dir is a mount point, from /proc/self/mountinfo.
func IsMounted(dir string) bool { return mountinfo.IsMountPoint(dir) }

// lockedBuffer collects a process's output for later reading.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Run runs a command with a deadline and returns its combined output,
// failing the test if it fails. A command that is not installed (rsync on
// a minimal machine) skips the test, naming it: the test checks ftpfs, not
// the machine.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (scripts/install-deps installs what the tests use): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Kill ends ftpfs with SIGKILL, as a crash would, and detaches the dead
// mount it leaves.
func (m *Mount) Kill(t testing.TB) {
	t.Helper()
	_ = m.cmd.Process.Kill()
	m.reap()
	_ = exec.Command("umount", "-l", m.Dir).Run()
	_ = exec.Command("fusermount3", "-u", "-z", m.Dir).Run()
}

// ExitCode waits up to d for ftpfs to exit and returns its exit status
// (-1 if it has not exited).
func (m *Mount) ExitCode(d time.Duration) int {
	select {
	case <-m.exited:
		return m.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// reap waits for a killed ftpfs to exit. A thread of it may be waiting
// in the kernel for an answer from its own mount (go-fuse polls a file of
// the mount while it starts), which no one will give: the process cannot
// exit until the FUSE connection is aborted, so it is after 3 s.
func (m *Mount) reap() {
	select {
	case <-m.exited:
		return
	case <-time.After(3 * time.Second):
	}
	AbortFUSE(m.Dir)
	<-m.exited
}

// AbortFUSE aborts the FUSE connection of the mount at dir, through the
// fusectl filesystem (mounted if it is not): requests waiting on it fail
// with ENOTCONN. Its number is the mount's device minor, from mountinfo,
// as a stat of a dead mount could itself hang.
func AbortFUSE(dir string) {
	mounts, err := mountinfo.Read()
	if err != nil {
		return
	}
	for _, m := range mounts {
		_, minor, ok := strings.Cut(m.Dev, ":")
		if m.Point != dir || !ok {
			continue
		}
		ctl := "/sys/fs/fuse/connections"
		if _, err := os.Stat(filepath.Join(ctl, minor)); err != nil {
			_ = exec.Command("mount", "-t", "fusectl", "none", ctl).Run()
		}
		_ = os.WriteFile(filepath.Join(ctl, minor, "abort"), []byte("1"), 0o200)
	}
}

// detach unmounts dir lazily: umount2(MNT_DETACH) as root, fusermount3 -u
// -z as an ordinary user, who may not call umount2 (scripts/test runs
// the suite as either).
func detach(dir string) {
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
		_ = exec.Command("fusermount3", "-u", "-z", dir).Run()
	}
}

// tempDir is t.TempDir for trees with read-only directories (tar's modes):
// before its removal every directory in it is made writable again, which
// root does not need but an ordinary user does.
func tempDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	t.Cleanup(func() {
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return d
}
