package fs

import (
	"fmt"
	"os"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// maxIO is the largest read the kernel sends in one request: large reads
// mean fewer round trips between kernel and ftpfs on a streaming transfer.
const maxIO = 1 << 20

// Server is a mounted ftpfs.
type Server struct {
	srv *fuse.Server
}

// Mount mounts the server's tree at mountpoint and starts serving it. As
// root it mounts directly; otherwise it goes through fusermount3.
func Mount(mountpoint string, remote Remote, opts Options) (*Server, error) {
	f := newFsys(remote, opts)
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
	srv, err := fusefs.Mount(mountpoint, root, fo)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	return &Server{srv: srv}, nil
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
