package fs

import (
	"context"
	"time"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

const (
	// maxPrefetchDirs bounds how many subdirectories of one directory are
	// listed ahead of time.
	maxPrefetchDirs = 64
	// prefetchWait is how long a prefetch waits for a free slot before it
	// is dropped: if nobody got to it by then, the walk has moved on or the
	// connections are busy with what was asked for.
	prefetchWait = 2 * time.Second
)

// prefetchSubdirs lists the subdirectories of a directory being read
// ahead of time, in parallel: a walk (find, du, ls -R, a file manager)
// reads them next, and over a link with latency each listing costs several
// round trips. It takes at most PrefetchConns connections at once, so
// that what is asked for keeps a connection of its own, and stays within
// the pool's limit. A listing asked for meanwhile merges with the
// prefetch of the same directory.
func (f *fsys) prefetchSubdirs(dir string, l *cache.Listing[conn.Entry]) {
	if f.prefetchSlots == nil {
		return
	}
	n := 0
	for i := 0; i < l.Len() && n < maxPrefetchDirs; i++ {
		name, e := l.At(i)
		if name == "" || e.Type != conn.TypeDir {
			continue
		}
		sub := cache.Join(dir, name)
		if _, ok := f.meta.Listing(sub); ok {
			continue
		}
		n++
		go f.prefetchListing(sub)
	}
}

func (f *fsys) prefetchListing(dir string) {
	t := time.NewTimer(prefetchWait)
	defer t.Stop()
	select {
	case f.prefetchSlots <- struct{}{}:
	case <-t.C:
		return
	}
	defer func() { <-f.prefetchSlots }()
	if _, ok := f.meta.Listing(dir); ok {
		return
	}
	if _, err := f.listing(context.Background(), dir); err != nil {
		f.log.Debug("prefetch failed", "dir", dir, "err", err)
	}
}
