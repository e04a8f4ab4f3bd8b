package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Without -f, ftpfs runs the mount in a child process of its own session
// and returns once the mount is ready, or fails with the child's error:
// mount(8) and scripts can use the mount point as soon as ftpfs returns.
// The child gets the credentials through a pipe, never in its arguments
// or environment, and its arguments carry no URL password.
const (
	daemonEnv  = "FTPFS_DAEMON" // set in the child
	statusFd   = 3              // child -> parent: "ok" or the error line
	credFd     = 4              // parent -> child: user and password lines
	readyOK    = "ok"
	startSlack = 15 * time.Second
)

// isDaemonChild reports whether this process is the background child.
func isDaemonChild() bool { return os.Getenv(daemonEnv) == "1" }

// daemonize starts the child and waits for its verdict; it returns the
// exit status for the parent.
func daemonize(o *options, args []string, user, password string) int {
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return fail("pipe: %v", err)
	}
	credR, credW, err := os.Pipe()
	if err != nil {
		return fail("pipe: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fail("cannot find my own executable: %v", err)
	}
	cmd := exec.Command(exe, childArgs(o, args)...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.ExtraFiles = []*os.File{statusW, credR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fail("cannot start in the background: %v", err)
	}
	statusW.Close()
	credR.Close()
	fmt.Fprintf(credW, "%s\n%s\n", user, password)
	credW.Close()
	verdict := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(statusR).ReadString('\n')
		verdict <- strings.TrimSpace(line)
	}()
	select {
	case v := <-verdict:
		if v == readyOK {
			_ = cmd.Process.Release()
			return 0
		}
		_ = cmd.Wait()
		if v == "" {
			v = "the background process ended before mounting"
		}
		fmt.Fprintf(os.Stderr, "ftpfs: %s\n", v)
		return 1
	case <-time.After(connectTimeout(o) + startSlack):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fail("the mount was not ready in time")
	}
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "ftpfs: "+format+"\n", args...)
	return 1
}

// childArgs are the parent's arguments with the source's password
// removed and the mount point made absolute (the child leaves the working
// directory, so as not to keep it busy).
func childArgs(o *options, args []string) []string {
	out := append([]string(nil), args...)
	if o.sourceIndex >= 0 {
		out[o.sourceIndex] = o.source
	}
	if o.mountpointIndex >= 0 {
		if abs, err := filepath.Abs(o.mountpoint); err == nil {
			out[o.mountpointIndex] = abs
		}
	}
	return out
}

// childCredentials reads what the parent sent.
func childCredentials() (user, password string, err error) {
	f := os.NewFile(credFd, "credentials")
	defer f.Close()
	r := bufio.NewReader(io.LimitReader(f, 64<<10))
	user, err1 := r.ReadString('\n')
	password, err2 := r.ReadString('\n')
	if err1 != nil || err2 != nil {
		return "", "", fmt.Errorf("no credentials from the parent process")
	}
	return strings.TrimSuffix(user, "\n"), strings.TrimSuffix(password, "\n"), nil
}

// reportReady tells the parent how the mount went, once.
func reportReady(err error) {
	f := os.NewFile(statusFd, "status")
	if f == nil {
		return
	}
	if err != nil {
		fmt.Fprintln(f, oneLine(err.Error()))
	} else {
		fmt.Fprintln(f, readyOK)
	}
	f.Close()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// detachChild makes the child independent of where it was started: paths
// absolute, working directory "/", standard streams closed.
func detachChild(o *options) error {
	for _, p := range []*string{&o.mountpoint, &o.cafile, &o.cacheDir, &o.logFile} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return err
			}
			*p = abs
		}
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	for _, fd := range []int{0, 1, 2} {
		_ = syscall.Dup2(int(null.Fd()), fd)
	}
	return nil
}

// maskArgv overwrites a URL password in this process's own argument
// memory, so that ps and /proc/PID/cmdline do not show it. Go's os.Args
// strings share that memory, so the bytes are changed in place; the
// password itself was copied out before.
func maskArgv(o *options) {
	if o.sourceIndex < 0 || !o.hasURLPass {
		return
	}
	arg := os.Args[1+o.sourceIndex]
	scheme := strings.Index(arg, "://")
	if scheme < 0 {
		return
	}
	rest := arg[scheme+3:]
	at := strings.LastIndex(rest[:strings.IndexAny(rest+"/", "/")], "@")
	colon := strings.Index(rest, ":")
	if at < 0 || colon < 0 || colon > at {
		return
	}
	b := unsafe.Slice(unsafe.StringData(arg), len(arg))
	for i := scheme + 3 + colon + 1; i < scheme+3+at; i++ {
		b[i] = '*'
	}
}
