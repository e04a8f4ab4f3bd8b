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
	// maxCousinDirs bounds how many directories one step of a walk lists
	// ahead one level further down (prefetchCousins).
	maxCousinDirs = 256
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
	f.prefetchBelow(dir, l, maxPrefetchDirs)
}

// prefetchBelow starts listing at most limit subdirectories of dir, whose
// listing is l, that are neither cached nor being listed ahead. It
// returns how many it looked at.
func (f *fsys) prefetchBelow(dir string, l *cache.Listing[conn.Entry], limit int) int {
	if f.prefetchSlots == nil {
		return 0
	}
	n := 0
	for i := 0; i < l.Len() && n < limit; i++ {
		name, e := l.At(i)
		if name == "" || e.Type != conn.TypeDir {
			continue
		}
		n++
		sub := cache.Join(dir, name)
		if _, ok := f.meta.Listing(sub); ok {
			continue
		}
		f.mu.Lock()
		queued := f.prefetching[sub]
		if !queued {
			f.prefetching[sub] = true
		}
		f.mu.Unlock()
		if !queued {
			go f.prefetchListing(sub)
		}
	}
	return n
}

// prefetchCousins lists ahead the subdirectories of dir's siblings, when
// a walk opens dir after it was listed ahead: a depth-first walk (find,
// du, rsync) goes down into each sibling's subdirectories as soon as it
// reaches the sibling, which would otherwise wait for their listings one
// by one.
func (f *fsys) prefetchCousins(dir string) {
	if f.prefetchSlots == nil || dir == f.opts.RemoteRoot {
		return
	}
	parent := cache.Parent(dir)
	pl, ok := f.meta.Listing(parent)
	if !ok {
		return
	}
	budget := maxCousinDirs
	for i := 0; i < pl.Len() && i < maxPrefetchDirs && budget > 0; i++ {
		name, e := pl.At(i)
		if name == "" || e.Type != conn.TypeDir {
			continue
		}
		sib := cache.Join(parent, name)
		if sl, ok := f.meta.Listing(sib); ok {
			budget -= f.prefetchBelow(sib, sl, min(budget, maxPrefetchDirs))
		}
	}
}

func (f *fsys) prefetchListing(dir string) {
	defer func() {
		f.mu.Lock()
		delete(f.prefetching, dir)
		f.mu.Unlock()
	}()
	if !f.takeSlot() {
		return
	}
	defer f.releaseSlot()
	if _, ok := f.meta.Listing(dir); ok {
		return
	}
	if _, err := f.listing(context.Background(), dir); err != nil {
		f.log.Debug("prefetch failed", "dir", dir, "err", err)
	}
}

// takeSlot waits for one of the prefetch connections, up to prefetchWait:
// a prefetch that gets none by then is dropped, as the walk has moved on
// or the connections are busy with what was asked for. releaseSlot gives
// it back.
func (f *fsys) takeSlot() bool {
	t := time.NewTimer(prefetchWait)
	defer t.Stop()
	select {
	case f.prefetchSlots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (f *fsys) releaseSlot() { <-f.prefetchSlots }
