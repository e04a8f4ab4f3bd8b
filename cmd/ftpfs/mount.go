package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ftpfs/ftpfs/cache/contentcache"
	"github.com/ftpfs/ftpfs/conn"
	"github.com/ftpfs/ftpfs/fs"
	"github.com/ftpfs/ftpfs/internal/mountinfo"
)

// mount connects, logs in, checks the remote directory and mounts it. On
// any failure nothing is left mounted or connected.
func mount(o *options, user, password string, log *slog.Logger) (*fs.Server, *conn.Pool, error) {
	if err := checkMountpoint(o.mountpoint, o.nonempty); err != nil {
		return nil, nil, err
	}
	if err := checkAllowOther(o.allowOther, os.Geteuid()); err != nil {
		return nil, nil, err
	}
	cfg := conn.Config{
		Host: o.host, Port: o.port, User: user, Password: password,
		Timeout: o.timeout, RetryTimeout: o.retryTimeout, Connections: o.connections, Parallel: o.parallel, Logger: log,
		TLS: o.tls, CAFile: o.cafile, Insecure: o.insecure, Encoding: o.encoding,
		Active: o.active, ActiveAddr: o.activeAddr, SourceAddr: o.sourceAddr, Account: o.account,
		CCC: o.tlsCCC, ClearData: o.clearData, DirectUpload: o.directUpload, DisableMLSD: o.disableMLSD, Verify: o.verify,
		DisableExactTimes: o.disableExactTimes,
		DisableDataAhead:  o.disableDataAhead,
	}
	if o.insecure {
		log.Warn("TLS certificate verification is off (-o insecure): the connection can be intercepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout(o))
	defer cancel()
	pool, err := conn.Open(ctx, cfg)
	if err != nil {
		return nil, nil, withTLSHint(err, o.tls)
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
	if o.cacheMaxSize > 0 {
		// Per server, user and remote root: one mount at a time uses it.
		fo.ContentIdentity = queueName(o, user) + root
		fo.ContentCacheDir, fo.ContentCacheMax = contentcache.Dir(fo.CacheDir, fo.ContentIdentity), o.cacheMaxSize
	}
	var srv *fs.Server
	mount := func() (err error) {
		srv, err = fs.Mount(o.mountpoint, pool, fo)
		return err
	}
	if os.Geteuid() == 0 {
		err = mount() // a direct mount: no fusermount3
	} else {
		var said string
		said, err = withFusermountStderr(mount)
		if err != nil {
			err = fusermountError(said, err)
		} else if said != "" {
			fmt.Fprintln(os.Stderr, said) // not ours to judge: pass it on
		}
	}
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
	deadMount := fmt.Errorf("mountpoint %s: a dead FUSE mount is still there; remove it with fusermount3 -u %s (or umount -l)", mnt, mnt)
	fi, err := os.Stat(mnt)
	if errors.Is(err, syscall.ENOTCONN) {
		return deadMount
	}
	if err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("mountpoint %s: not a directory", mnt)
	}
	if mountinfo.IsMountPoint(mnt) {
		// After kill -9 of a FUSE server, stat can still succeed from the
		// kernel's cached attributes; statfs always asks the server, and
		// a dead one answers ENOTCONN.
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); errors.Is(err, syscall.ENOTCONN) {
			return deadMount
		}
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
		NegativeTTL:        o.negativeTTL,
		RevalidateAfter:    o.revalidate,
		UID:                uint32(os.Getuid()),
		GID:                uint32(os.Getgid()),
		ReadOnly:           o.readOnly,
		AllowOther:         o.allowOther,
		DefaultPermissions: o.defaultPermissions,
		Logger:             log,
		Writeback:          o.writeback,
		DirectUpload:       o.directUpload,
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
