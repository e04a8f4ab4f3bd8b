package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/ftpfs/ftpfs/cache"
)

// maxIO is the largest read the kernel sends in one request: large reads
// mean fewer round trips between kernel and ftpfs on a streaming transfer.
const maxIO = 1 << 20

// Server is a mounted ftpfs.
type Server struct {
	srv *fuse.Server
	fs  *fsys
}

// AbandonOpen is for a shutdown that cannot wait for the files still open
// for writing: their writers never closed them, so the server keeps its
// versions and the bytes written are kept under the cache directory's
// unsaved folder, each logged with its path and size. It returns how many
// files had bytes kept.
func (s *Server) AbandonOpen() int { return s.fs.abandonOpen() }

// PendingUploads returns how many uploads are queued in writeback mode.
func (s *Server) PendingUploads() int {
	if s.fs.wb == nil {
		return 0
	}
	return s.fs.wb.pending()
}

// QueueDir returns the directory of the upload queue in writeback mode.
func (s *Server) QueueDir() string { return s.fs.opts.QueueDir }

// DrainUploads waits, after the unmount, for the uploads queued in
// writeback mode until they are done or ctx ends. It returns how many are
// left in the queue for the next mount.
func (s *Server) DrainUploads(ctx context.Context) int { return s.fs.wb.drain(ctx) }

// Mount mounts the server's tree at mountpoint and starts serving it. As
// root it mounts directly; otherwise it goes through fusermount3.
func Mount(mountpoint string, remote Remote, opts Options) (*Server, error) {
	f := newFsys(remote, opts)
	if opts.CacheDir != "" {
		// Write buffers of files a killed ftpfs was writing: kept, never
		// left to fill the disk.
		orphans, err := cache.SweepOrphans(opts.CacheDir)
		for _, o := range orphans {
			f.log.Warn("a write buffer left by an ftpfs that was killed while the file was open; its bytes are kept locally",
				"bytes", o.Size, "copy", o.Path)
		}
		if err != nil {
			f.log.Warn("write buffers left by a killed ftpfs could not all be kept", "err", err)
		}
	}
	f.openContentCache()
	// A journal left by an earlier mount is resumed whatever the mode: its
	// operations were promised to applications.
	if opts.QueueDir != "" && !opts.ReadOnly {
		wb, err := openWriteback(f, opts.QueueDir, filepath.Join(opts.CacheDir, "unsaved"))
		if err != nil {
			f.closeContentCache()
			return nil, err
		}
		f.wb = wb
	}
	root := &dirNode{}
	root.fs = f
	ttl := opts.CacheTTL
	fo := &fusefs.Options{
		MountOptions: fuse.MountOptions{
			FsName:        opts.Source,
			Name:          "ftpfs",
			AllowOther:    opts.AllowOther,
			DirectMount:   os.Geteuid() == 0,
			MaxWrite:      maxIO,
			MaxReadAhead:  maxIO,
			SyncRead:      true, // one ordered read at a time keeps a handle's stream sequential
			DisableXAttrs: true,
			// O_TRUNC arrives with the open instead of as a separate
			// truncate, which would upload an empty file first.
			ExtraCapabilities:    fuse.CAP_ATOMIC_O_TRUNC,
			IgnoreSecurityLabels: true,
		},
		// A non-nil Options zeroes unset timeouts; set all three.
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &ttl,
		RootStableAttr:  &fusefs.StableAttr{Ino: 1},
		UID:             opts.UID,
		GID:             opts.GID,
	}
	if opts.DefaultPermissions {
		fo.MountOptions.Options = append(fo.MountOptions.Options, "default_permissions")
	}
	if opts.ReadOnly {
		fo.MountOptions.Options = append(fo.MountOptions.Options, "ro")
	}
	// What comes first on a new mount is a look at its root: over a link
	// with latency its listing costs three round trips, better spent
	// before the mount is there than after. A root that cannot be listed
	// (a server that refuses both MLSD and LIST) would be an empty
	// directory that fails every look: the mount fails instead, with the
	// server's reply.
	if _, err := f.listing(context.Background(), opts.RemoteRoot); err != nil {
		f.closeContentCache()
		return nil, fmt.Errorf("remote directory %s: %w", opts.RemoteRoot, err)
	}
	srv, err := fusefs.Mount(mountpoint, root, fo)
	if err != nil {
		f.closeContentCache()
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	if err := raiseReadahead(mountpoint); err != nil {
		f.log.Debug("readahead left at the kernel's default", "err", err)
	}
	f.wb.start(max(opts.PrefetchConns, 1))

	return &Server{srv: srv, fs: f}, nil
}

// raiseReadahead sets the mount's readahead to maxIO. The kernel starts a
// FUSE mount at 128 KiB whatever the INIT reply asks, and a sequential read
// then costs a request per 128-256 KiB; only root may change it, through
// the mount's backing device in sysfs. Measured on loopback: 1 GiB in
// 2.0 s at the default, 0.8 s at 1 MiB.
func raiseReadahead(mountpoint string) error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(mountpoint, &st); err != nil {
		return err
	}
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	return os.WriteFile(path, []byte(strconv.Itoa(maxIO>>10)), 0o644)
}

// Close ends the mount's background work (listing ahead, small-file
// read-ahead, upload streams) and waits for it, stops the writeback
// workers if DrainUploads did not, and closes the content cache (writing
// what the next mount needs of it): call it once unmounted, before the
// connections are closed. What the journal holds stays for the next mount.
func (s *Server) Close() {
	s.fs.bg.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing more to wait for: the workers just stop
	s.fs.wb.drain(ctx)
	s.fs.closeContentCache()
}

// Wait blocks until the filesystem is unmounted.
func (s *Server) Wait() { s.srv.Wait() }

// Unmount unmounts the filesystem, retrying while it is busy for up to
// timeout; it returns the last error if it stays busy.
func (s *Server) Unmount(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := s.srv.Unmount()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
