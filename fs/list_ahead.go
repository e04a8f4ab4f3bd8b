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
	// ahead one level further down (listAheadCousins).
	maxCousinDirs = 256
	// aheadWait is how long work ahead (a listing or a small file) waits for a free slot before it
	// is dropped: if nobody got to it by then, the walk has moved on or the
	// connections are busy with what was asked for.
	aheadWait = 2 * time.Second
)

// listAheadSubdirs lists the subdirectories of a directory being read
// ahead of time, in parallel: a walk (find, du, ls -R, a file manager)
// reads them next, and over a link with latency each listing costs several
// round trips. It takes at most PrefetchConns connections at once, so
// that what is asked for keeps a connection of its own, and stays within
// the pool's limit. A listing asked for meanwhile merges with the
// listing ahead of the same directory.
func (f *fsys) listAheadSubdirs(dir string, l *cache.Listing[conn.Entry]) {
	f.listAheadBelow(dir, l, maxPrefetchDirs)
}

// listAheadBelow starts listing at most limit subdirectories of dir, whose
// listing is l, that are neither cached nor being listed ahead. It
// returns how many it looked at.
func (f *fsys) listAheadBelow(dir string, l *cache.Listing[conn.Entry], limit int) int {
	if f.aheadSlots == nil {
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
		queued := f.listingAhead[sub]
		if !queued {
			f.listingAhead[sub] = true
		}
		f.mu.Unlock()
		if !queued && !f.bg.start(func(ctx context.Context) { f.listAhead(ctx, sub) }) {
			f.doneListingAhead(sub) // the mount is closing
		}
	}
	return n
}

// listAheadCousins lists ahead the subdirectories of dir's siblings, when
// a walk opens dir after it was listed ahead: a depth-first walk (find,
// du, rsync) goes down into each sibling's subdirectories as soon as it
// reaches the sibling, which would otherwise wait for their listings one
// by one.
func (f *fsys) listAheadCousins(dir string) {
	if f.aheadSlots == nil || dir == f.opts.RemoteRoot {
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
			budget -= f.listAheadBelow(sib, sl, min(budget, maxPrefetchDirs))
		}
	}
}

func (f *fsys) listAhead(ctx context.Context, dir string) {
	defer f.doneListingAhead(dir)
	if !f.takeSlot(ctx) {
		return
	}
	defer f.releaseSlot()
	if _, ok := f.meta.Listing(dir); ok {
		return
	}
	if _, err := f.listing(ctx, dir); err != nil {
		f.log.Debug("listing ahead failed", "dir", dir, "err", err)
	}
}

// takeSlot waits for one of the connections for working ahead, up to aheadWait:
// a listing ahead that gets none by then is dropped, as the walk has moved on
// or the connections are busy with what was asked for. releaseSlot gives
// it back.
func (f *fsys) takeSlot(ctx context.Context) bool {
	t := time.NewTimer(aheadWait)
	defer t.Stop()
	select {
	case f.aheadSlots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// doneListingAhead records that dir is no longer waiting to be listed
// ahead.
func (f *fsys) doneListingAhead(dir string) {
	f.mu.Lock()
	delete(f.listingAhead, dir)
	f.mu.Unlock()
}

func (f *fsys) releaseSlot() { <-f.aheadSlots }
