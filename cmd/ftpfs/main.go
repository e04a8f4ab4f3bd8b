// Command ftpfs mounts a directory of an FTP server as a local filesystem.
//
//	ftpfs [-f] [-o opt[,opt...]] SOURCE MOUNTPOINT [-o opt[,opt...]]
//
// It parses the command line, finds credentials, checks the server and the
// remote directory, mounts, and unmounts on SIGINT or SIGTERM. Everything
// else lives in the packages fs, conn and cache.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftpfs/ftpfs/conn"
	"github.com/ftpfs/ftpfs/fs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

// run returns the exit status: 0 after a clean unmount (or, without -f,
// once the background process has mounted), 1 when the mount could not be
// made, 2 for a bad command line.
func run(args []string) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpfs: %v\nTry 'ftpfs --help'.\n", err)
		return 2
	}
	switch {
	case o.help:
		fmt.Print(usage)
		return 0
	case o.version:
		fmt.Printf("ftpfs %s (%s)\n", version, runtime.Version())
		return 0
	}
	// Catch SIGINT and SIGTERM before mounting: one arriving between the
	// mount and serve would otherwise kill ftpfs and leave a dead mount.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if isDaemonChild() {
		return runChild(o, sigs)
	}
	maskArgv(o)
	user, password, err := credentials(o)
	if err != nil {
		return fail("%v", err)
	}
	if !o.foreground {
		return daemonize(o, args, user, password)
	}
	log, closeLog, err := newLogger(o, os.Stderr)
	if err != nil {
		return fail("%v", err)
	}
	defer closeLog()
	srv, pool, err := mount(o, user, password, log)
	if err != nil {
		return fail("%v", err)
	}
	return serve(o, srv, pool, log, sigs)
}

// runChild is the background process: it mounts, tells the parent how that
// went, and serves.
func runChild(o *options, sigs chan os.Signal) int {
	user, password, err := childCredentials()
	if err == nil {
		err = detachChild(o)
	}
	log, closeLog, lerr := newLogger(o, nil)
	if err == nil {
		err = lerr
	}
	var srv *fs.Server
	var pool *conn.Pool
	if err == nil {
		srv, pool, err = mount(o, user, password, log)
	}
	reportReady(err)
	if err != nil {
		return 1
	}
	defer closeLog()
	return serve(o, srv, pool, log, sigs)
}

// newLogger logs to -o log_file= if given, else to stderr in the
// foreground (w) and to syslog in the background (w nil).
func newLogger(o *options, w io.Writer) (*slog.Logger, func(), error) {
	closeFn := func() {}
	switch {
	case o.logFile != "":
		f, err := os.OpenFile(o.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	case w == nil:
		if sl, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "ftpfs"); err == nil {
			w, closeFn = sl, func() { sl.Close() }
		} else {
			w = io.Discard // no syslog daemon, and no log_file asked for
		}
	}
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closeFn, nil
}

// mount connects, logs in, checks the remote directory and mounts it. On
// any failure nothing is left mounted or connected.
func mount(o *options, user, password string, log *slog.Logger) (*fs.Server, *conn.Pool, error) {
	if err := checkMountpoint(o.mountpoint, o.nonempty); err != nil {
		return nil, nil, err
	}
	cfg := conn.Config{
		Host: o.host, Port: o.port, User: user, Password: password,
		Timeout: o.timeout, RetryTimeout: o.retryTimeout, Connections: o.connections, Logger: log,
		TLS: o.tls, CAFile: o.cafile, Insecure: o.insecure, Encoding: o.encoding,
		DisableMLSD: o.disableMLSD,
	}
	if o.insecure {
		log.Warn("TLS certificate verification is off (-o insecure): the connection can be intercepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout(o))
	defer cancel()
	pool, err := conn.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	root, err := remoteRoot(ctx, o, pool)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	fo := fsOptions(o, root, log)
	if fo.CacheDir, err = cacheDir(o); err != nil {
		pool.Close()
		return nil, nil, err
	}
	fo.QueueDir = filepath.Join(fo.CacheDir, "queue", queueName(o, user))
	srv, err := fs.Mount(o.mountpoint, pool, fo)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return srv, pool, nil
}

func connectTimeout(o *options) time.Duration {
	if o.timeout > 0 {
		return 2 * o.timeout
	}
	return 2 * conn.DefaultTimeout
}

// checkMountpoint refuses a mount point that is missing, not a directory,
// already a mount point, or (without -o nonempty) not empty: mounting
// there would hide its files.
func checkMountpoint(mnt string, nonempty bool) error {
	fi, err := os.Stat(mnt)
	if errors.Is(err, syscall.ENOTCONN) {
		return fmt.Errorf("mountpoint %s: a dead FUSE mount is still there; remove it with fusermount3 -u %s (or umount -l)", mnt, mnt)
	}
	if err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("mountpoint %s: not a directory", mnt)
	}
	if isMountPoint(mnt) {
		return fmt.Errorf("mountpoint %s: something is already mounted there", mnt)
	}
	if !nonempty {
		f, err := os.Open(mnt)
		if err != nil {
			return fmt.Errorf("mountpoint: %w", err)
		}
		names, _ := f.Readdirnames(1)
		f.Close()
		if len(names) > 0 {
			return fmt.Errorf("mountpoint %s: not empty (mounting would hide its files; -o nonempty to do it anyway)", mnt)
		}
	}
	return nil
}

// isMountPoint reports whether dir is a mount point, from mountinfo.
func isMountPoint(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeOctal(f[4]) == abs {
			return true
		}
	}
	return false
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// remoteRoot resolves the remote path against the login directory and
// checks that it is a directory.
func remoteRoot(ctx context.Context, o *options, pool *conn.Pool) (string, error) {
	root := o.remotePath
	if !o.absolute {
		wd, err := pool.Getwd(ctx)
		if err != nil {
			return "", err
		}
		root = path.Join(wd, root)
	}
	root = path.Clean("/" + root)
	if err := pool.CheckDir(ctx, root); err != nil {
		return "", fmt.Errorf("remote directory %s: %w", root, err)
	}
	return root, nil
}

// cacheDir returns the directory for write buffers: cache_dir=, else
// ftpfs under the user's cache directory ($XDG_CACHE_HOME or ~/.cache). It
// is created private, as it holds file contents.
func cacheDir(o *options) (string, error) {
	dir := o.cacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "ftpfs")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("cache_dir: %w", err)
	}
	return dir, nil
}

func connectionsOf(o *options) int {
	if o.connections > 0 {
		return o.connections
	}
	return conn.DefaultConnections
}

func fsOptions(o *options, root string, log *slog.Logger) fs.Options {
	fo := fs.Options{
		Source:             o.source,
		RemoteRoot:         root,
		CacheTTL:           o.cacheTTL,
		UID:                uint32(os.Getuid()),
		GID:                uint32(os.Getgid()),
		ReadOnly:           o.readOnly,
		AllowOther:         o.allowOther,
		DefaultPermissions: o.defaultPermissions,
		Logger:             log,
		Writeback:          o.writeback,
		// Leave one connection to what is asked for.
		PrefetchConns: max(connectionsOf(o)-1, 0),
	}
	if o.uid >= 0 {
		fo.UID = uint32(o.uid)
	}
	if o.gid >= 0 {
		fo.GID = uint32(o.gid)
	}
	if o.umask >= 0 {
		fo.Umask, fo.HasUmask = uint32(o.umask), true
	}
	return fo
}

// serve waits for the filesystem to be unmounted, by umount(8) or by a
// signal, and then closes the connections.
func serve(o *options, srv *fs.Server, pool *conn.Pool, log *slog.Logger, sigs chan os.Signal) int {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	log.Debug("mounted", "source", o.source, "mountpoint", o.mountpoint)
	status := 0
	var sig os.Signal
wait:
	for {
		select {
		case <-done:
			break wait
		case <-usr1:
			// A health report on demand, for operators and the soak test.
			log.Info("status", "goroutines", runtime.NumGoroutine(), "commands", pool.Commands())
		case sig = <-sigs:
			break wait
		}
	}
	if sig != nil {
		log.Info("unmounting", "signal", sig.String())
		if err := srv.Unmount(5 * time.Second); err != nil {
			// Files are still open: what they wrote is uploaded now (or
			// kept locally) before the mount goes away under them.
			if n := srv.SaveAll(context.Background()); n > 0 {
				status = 1
			}
			log.Warn("unmount failed; detaching lazily", "err", err)
			if err := lazyUnmount(o.mountpoint); err != nil {
				log.Error("lazy unmount failed", "err", err)
				status = 1
			}
		}
	}
	if n := srv.PendingUploads(); n > 0 {
		if drainUploads(srv, o, log, sigs, n) > 0 {
			status = 1
		}
	}
	signal.Stop(sigs)
	signal.Stop(usr1)
	pool.Close()
	return status
}

// drainUploads waits, once unmounted, for the n uploads still queued in
// writeback mode, up to writeback_wait or another signal; what is left
// stays queued for the next mount. It returns how many were left.
func drainUploads(srv *fs.Server, o *options, log *slog.Logger, sigs chan os.Signal, n int) int {
	log.Info("unmounted; finishing the queued uploads", "files", n, "wait", o.writebackWait)
	ctx, cancel := context.WithTimeout(context.Background(), o.writebackWait)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	left := srv.DrainUploads(ctx)
	if left > 0 {
		log.Warn("uploads left queued; the next mount of this server with -o writeback resumes them",
			"files", left, "queue", srv.QueueDir())
	}
	return left
}

// queueName names the upload queue of a server and login, so that only a
// mount of the same server resumes it.
func queueName(o *options, user string) string {
	if user == "" {
		user = "anonymous"
	}
	name := fmt.Sprintf("%s@%s:%d", user, o.host, o.port)
	return strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r < ' ' {
			return '_'
		}
		return r
	}, name)
}
