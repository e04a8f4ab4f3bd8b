package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireRoot skips tests that mount through mount(8) or act as another
// user.
func requireRoot(t *testing.T) {
	t.Helper()
	RequireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// waitUnmounted waits for dir to leave the mount table.
func waitUnmounted(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for IsMounted(dir) {
		if time.Now().After(deadline) {
			detach(dir)
			t.Fatalf("%s still mounted", dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ftpfsPids lists running ftpfs processes whose command line mentions s.
func ftpfsPids(s string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(b, []byte("ftpfs")) && bytes.Contains(b, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestFstab mounts through mount(8) and mount.fuse3 from an fstab line, as
// `mount /mnt/x` does, and unmounts with umount(8); ftpfs must background
// itself only once the mount is ready and exit after the unmount.
func TestFstab(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("mount.fuse3"); err != nil {
		t.Skip("no mount.fuse3 (package fuse3)")
	}
	// mount.fuse3 runs "ftpfs" with a fixed PATH; put ours there for the test.
	const installed = "/usr/local/bin/ftpfs"
	if _, err := os.Lstat(installed); err == nil {
		t.Skipf("%s exists; not replacing it", installed)
	}
	must(t, os.Symlink(Binary(t), installed))
	defer os.Remove(installed)

	root := t.TempDir()
	write(t, filepath.Join(root, "hello"), []byte("via fstab\n"))
	srv := StartInProcess(t, KindInProcess, root)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	pw := filepath.Join(dir, "pw")
	write(t, pw, []byte(srv.Password+"\n"))
	fstab := filepath.Join(dir, "fstab")
	line := fmt.Sprintf("127.0.0.1:/ %s fuse.ftpfs port=%d,user=%s,password_file=%s,_netdev,noauto,x-systemd.automount 0 0\n",
		mnt, srv.Port, srv.User, pw)
	write(t, fstab, []byte(line))
	defer func() {
		if IsMounted(mnt) {
			detach(mnt)
		}
	}()
	Run(t, 30*time.Second, "mount", "-T", fstab, mnt)
	// No waiting: mount(8) returned, so the mount must be usable now.
	if b, err := os.ReadFile(filepath.Join(mnt, "hello")); err != nil || string(b) != "via fstab\n" {
		t.Fatalf("read right after mount: %q, %v", b, err)
	}
	if !strings.Contains(Run(t, 10*time.Second, "findmnt", "-n", "-o", "FSTYPE", mnt), "fuse.ftpfs") {
		t.Error("findmnt does not show fuse.ftpfs")
	}
	Run(t, 30*time.Second, "umount", mnt)
	waitUnmounted(t, mnt)
	deadline := time.Now().Add(10 * time.Second)
	for len(ftpfsPids(mnt)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("ftpfs still running after umount: %v", ftpfsPids(mnt))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBackgroundFailure: without -f, a failed mount is a non-zero exit of
// the command itself, with the reason.
func TestBackgroundFailure(t *testing.T) {
	requireRoot(t)
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	mnt := t.TempDir()
	code, out := runFtpfs(t, []string{"FTPFS_PASSWORD=wrong"}, "127.0.0.1:", mnt,
		"-o", fmt.Sprintf("port=%d,user=%s", srv.Port, srv.User))
	if code == 0 || !strings.Contains(out, "530") || IsMounted(mnt) {
		t.Errorf("background mount with a wrong password: exit %d, %q, mounted %v", code, out, IsMounted(mnt))
	}
}

// TestUnprivilegedUser mounts and unmounts as an ordinary user, through
// fusermount3.
func TestUnprivilegedUser(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Skip("no fusermount3 (package fuse3)")
	}
	u, err := user.Lookup(serverUser) // scripts/ftp-server's test user, made if missing
	if err != nil {
		StartServer(t, KindPyftpdlib, t.TempDir()) // creates it
		if u, err = user.Lookup(serverUser); err != nil {
			t.Skip("no unprivileged test user: ", err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Debian's udev makes /dev/fuse 0666 so that fusermount3 can open it
	// for users; some containers leave it 0600. Act as Debian for the test.
	if fi, err := os.Stat("/dev/fuse"); err == nil && fi.Mode().Perm()&0o006 != 0o006 {
		must(t, os.Chmod("/dev/fuse", 0o666))
		defer os.Chmod("/dev/fuse", fi.Mode().Perm())
	}
	root := t.TempDir()
	write(t, filepath.Join(root, "f"), []byte("user mount\n"))
	srv := StartInProcess(t, KindInProcess, root)
	// A directory the user owns, reachable from /, holding the binary too.
	home, err := os.MkdirTemp("", "ftpfs-user-")
	must(t, err)
	defer os.RemoveAll(home)
	must(t, os.Chmod(home, 0o755))
	bin := filepath.Join(home, "ftpfs")
	data, err := os.ReadFile(Binary(t))
	must(t, err)
	must(t, os.WriteFile(bin, data, 0o755))
	mnt := filepath.Join(home, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	must(t, os.Chown(mnt, uid, gid))
	must(t, os.Chown(home, uid, gid))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "127.0.0.1:", mnt, "-o",
		fmt.Sprintf("port=%d,user=%s,cache_dir=%s/cache", srv.Port, srv.User, home))
	cmd.Env = []string{"FTPFS_PASSWORD=" + srv.Password, "PATH=/usr/bin:/bin", "HOME=" + home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	defer func() {
		if IsMounted(mnt) {
			detach(mnt)
		}
	}()
	if err != nil {
		t.Fatalf("mount as %s: %v\n%s", u.Username, err, out)
	}
	asUser := func(name string, args ...string) ([]byte, error) {
		c := exec.CommandContext(ctx, name, args...)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		return c.CombinedOutput()
	}
	if b, err := asUser("cat", filepath.Join(mnt, "f")); err != nil || string(b) != "user mount\n" {
		t.Errorf("read as the user: %q, %v", b, err)
	}
	if b, err := asUser("fusermount3", "-u", mnt); err != nil {
		t.Errorf("fusermount3 -u as the user: %v\n%s", err, b)
	}
	waitUnmounted(t, mnt)

	// A mount point the user may not write to: fusermount3 refuses, and
	// its reason reaches the user from the background too, not just
	// "fusermount exited with code 256".
	rootOwned := filepath.Join(home, "root-owned")
	must(t, os.Mkdir(rootOwned, 0o755))
	cmd = exec.CommandContext(ctx, bin, "127.0.0.1:", rootOwned, "-o",
		fmt.Sprintf("port=%d,user=%s,cache_dir=%s/cache", srv.Port, srv.User, home))
	cmd.Env = []string{"FTPFS_PASSWORD=" + srv.Password, "PATH=/usr/bin:/bin", "HOME=" + home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err = cmd.CombinedOutput()
	if err == nil || !regexp.MustCompile(`(?m)^ftpfs: .*no write access to mountpoint [^\\]*$`).Match(out) {
		t.Errorf("background mount on a mount point the user may not write to: %v, %q; want fusermount3's reason on one line", err, out)
	}
	if IsMounted(rootOwned) {
		detach(rootOwned)
		t.Error("mounted where the user may not write")
	}

	// allow_other without user_allow_other in /etc/fuse.conf: fusermount3
	// refuses, and ftpfs must say what to change rather than pass on
	// "fusermount exited with code 256".
	if conf, _ := os.ReadFile("/etc/fuse.conf"); regexp.MustCompile(`(?m)^\s*user_allow_other`).Match(conf) {
		t.Log("/etc/fuse.conf has user_allow_other: allow_other is not refused here")
		return
	}
	cmd = exec.CommandContext(ctx, bin, "-f", "127.0.0.1:", mnt, "-o",
		fmt.Sprintf("port=%d,user=%s,cache_dir=%s/cache,allow_other", srv.Port, srv.User, home))
	cmd.Env = []string{"FTPFS_PASSWORD=" + srv.Password, "PATH=/usr/bin:/bin", "HOME=" + home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "add it (as root)") || !strings.Contains(string(out), "user_allow_other") {
		t.Errorf("allow_other as a user without user_allow_other: %v, %q", err, out)
	}
	if IsMounted(mnt) {
		t.Error("mounted with allow_other")
		detach(mnt)
	}
}

// TestNoPasswordInProcessList mounts with the password in the URL, in the
// foreground and in the background, and reads /proc/PID/cmdline.
func TestNoPasswordInProcessList(t *testing.T) {
	RequireFUSE(t)
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	url := fmt.Sprintf("ftp://%s:%s@127.0.0.1:%d/", srv.User, srv.Password, srv.Port)
	t.Run("foreground", func(t *testing.T) {
		mnt := t.TempDir()
		m := startMount(t, Binary(t), []string{"-f", url, mnt}, mnt, srv)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", m.cmd.Process.Pid))
		if err != nil || bytes.Contains(b, []byte(srv.Password)) || !bytes.Contains(b, []byte(srv.User)) {
			t.Errorf("cmdline %q, %v", bytes.ReplaceAll(b, []byte{0}, []byte{' '}), err)
		}
	})
	t.Run("background", func(t *testing.T) {
		requireRoot(t)
		mnt := t.TempDir()
		if code, out := runFtpfs(t, nil, url, mnt); code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		defer func() { detach(mnt); waitUnmounted(t, mnt) }()
		pids := ftpfsPids(mnt)
		if len(pids) != 1 {
			t.Fatalf("ftpfs processes for %s: %v", mnt, pids)
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pids[0]))
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[0]))
		if bytes.Contains(b, []byte(srv.Password)) || bytes.Contains(env, []byte(srv.Password)) {
			t.Errorf("the background process shows the password: %q", bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	})
}

// TestCredentialSources logs in with the password from each source.
func TestCredentialSources(t *testing.T) {
	RequireFUSE(t)
	srv := StartInProcess(t, KindInProcess, t.TempDir())
	base := fmt.Sprintf("port=%d,user=%s", srv.Port, srv.User)
	t.Run("netrc", func(t *testing.T) {
		home := t.TempDir()
		netrc := filepath.Join(home, ".netrc")
		write(t, netrc, []byte(fmt.Sprintf("machine 127.0.0.1 login %s password %s\n", srv.User, srv.Password)))
		must(t, os.Chmod(netrc, 0o600))
		mnt := t.TempDir()
		m := startMountEnv(t, []string{"HOME=" + home}, []string{"-f", "127.0.0.1:", mnt, "-o", fmt.Sprintf("port=%d", srv.Port)}, mnt, srv)
		if _, err := os.ReadDir(m.Dir); err != nil {
			t.Error(err)
		}
		// Readable by others: ftp(1) refuses it, and so does ftpfs.
		must(t, os.Chmod(netrc, 0o644))
		code, out := runFtpfs(t, []string{"HOME=" + home}, "-f", "127.0.0.1:", t.TempDir(), "-o", base)
		if code == 0 || !strings.Contains(out, "readable by others") {
			t.Errorf("world-readable netrc: exit %d, %q", code, out)
		}
	})
	t.Run("environment", func(t *testing.T) {
		mnt := t.TempDir()
		m := startMountEnv(t, []string{"FTPFS_PASSWORD=" + srv.Password}, []string{"-f", "127.0.0.1:", mnt, "-o", base}, mnt, srv)
		if _, err := os.ReadDir(m.Dir); err != nil {
			t.Error(err)
		}
	})
	t.Run("prompt", func(t *testing.T) {
		if _, err := exec.LookPath("script"); err != nil {
			t.Skip("no script(1) to give ftpfs a terminal")
		}
		mnt := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// script(1) runs ftpfs on a pseudo-terminal and feeds it our stdin.
		cmdline := fmt.Sprintf("%s 127.0.0.1: %s -o %s", Binary(t), mnt, base)
		cmd := exec.CommandContext(ctx, "script", "-qec", cmdline, "/dev/null")
		cmd.Stdin = strings.NewReader(srv.Password + "\n")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		defer func() { detach(mnt) }()
		if err != nil || !IsMounted(mnt) {
			t.Fatalf("mount with a prompted password: %v, mounted %v\n%s", err, IsMounted(mnt), out)
		}
		if !strings.Contains(string(out), "Password for "+srv.User+"@127.0.0.1") {
			t.Errorf("no prompt shown: %q", out)
		}
		detach(mnt)
		waitUnmounted(t, mnt)
	})
}

// startMountEnv is startMount with extra environment for ftpfs.
func startMountEnv(t *testing.T, env, args []string, mnt string, srv *Server) *Mount {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // the ftpfs process inherits the test's environment
	}
	return startMount(t, Binary(t), args, mnt, srv)
}
