package fs

import (
	"os"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/cache/contentcache"
	"github.com/ftpfs/ftpfs/writeback"
)

// Status is a snapshot of a mount's local state, for ftpfs status.
type Status struct {
	Writeback bool             // -o writeback
	Journal   bool             // a journal is open (writeback, or resuming one)
	Queue     writeback.Status // the journal's operations
	QueueDir  string
	// Unsaved is how many files the unsaved directory holds: bytes that
	// could not be uploaded, from this mount or earlier ones.
	Unsaved    int
	UnsavedDir string
	// ContentCache is the content cache's state while it is on;
	// ContentCacheOff says why it is off otherwise.
	ContentCache    *contentcache.Stats `json:",omitempty"`
	ContentCacheOff string              `json:",omitempty"`
}

// Status returns a snapshot of the mount.
func (s *Server) Status() Status {
	f := s.fs
	st := Status{Writeback: f.opts.Writeback, QueueDir: f.opts.QueueDir, UnsavedDir: cache.UnsavedDir(f.opts.CacheDir)}
	if f.wb != nil {
		st.Journal, st.Queue = true, f.wb.q.Status()
	}
	if f.cc != nil {
		cs := f.cc.Stats()
		st.ContentCache = &cs
	} else {
		st.ContentCacheOff = f.ccNote
	}
	if ents, err := os.ReadDir(st.UnsavedDir); err == nil {
		st.Unsaved = len(ents)
	}
	return st
}
