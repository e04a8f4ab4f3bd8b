package fs

import (
	"context"
	"errors"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/conn"
)

// A process that reads the small files of a tree one after another (grep
// -r, rsync, cp -r, an indexer) pays a transfer per file, three round
// trips each however small the file. Once a process has opened two small
// files in a row, the files that follow the one it opens in a walk of the
// tree in the order of its listings (the order such a process meets them)
// are read ahead in parallel into a cache of whole files, each served
// while the listing shows it at the size and time it was read at. A
// process reading one file, or reading large files, starts nothing.
const (
	// maxBlobFile is the largest file read ahead.
	maxBlobFile = 256 << 10
	// blobBudget bounds the bytes of files held, read or not.
	blobBudget = 8 << 20
	// blobsAhead is how many files are read ahead of the one opened, and
	// blobBytesAhead how many bytes at most.
	blobsAhead     = 32
	blobBytesAhead = 4 << 20
	// maxAheadDepth bounds how deep reading ahead descends below the
	// directory of the file opened.
	maxAheadDepth = 8
	// maxReaders bounds the processes remembered.
	maxReaders = 1024
)

// smallAhead is the state of reading small files ahead.
type smallAhead struct {
	blobs *cache.Blobs

	mu       sync.Mutex
	last     map[uint32]string        // guarded by mu; per process, the last small file it opened
	inflight map[string]chan struct{} // guarded by mu; files being read ahead
}

func newSmallAhead() *smallAhead {
	return &smallAhead{
		blobs:    cache.NewBlobs(blobBudget),
		last:     map[uint32]string{},
		inflight: map[string]chan struct{}{},
	}
}

func version(e conn.Entry) cache.Version { return cache.Version{Size: e.Size, ModTime: e.ModTime} }

// smallFile reports whether e may be read ahead: a file with a listed time
// (without one, a change that keeps the size would go unnoticed).
func smallFile(e conn.Entry) bool {
	return e.Type == conn.TypeFile && e.HasTime && e.Size <= maxBlobFile
}

// openedForRead notes that the calling process opened p, listed as e, for
// reading, and returns its contents if they were read ahead (waiting for a
// read ahead under way). It starts reading ahead when the process opened
// another small file just before.
func (f *fsys) openedForRead(ctx context.Context, p string, e conn.Entry) []byte {
	ra := f.smallAhead
	if ra == nil {
		return nil
	}
	small := smallFile(e)
	var pid uint32
	if c, ok := fuse.FromContext(ctx); ok {
		pid = c.Pid
	}
	ra.mu.Lock()
	prev, had := ra.last[pid]
	if small {
		if len(ra.last) >= maxReaders {
			clear(ra.last)
		}
		ra.last[pid] = p
	} else {
		delete(ra.last, pid)
	}
	wait := ra.inflight[p]
	ra.mu.Unlock()
	if !small {
		return nil
	}
	if had && prev != p {
		f.smallAheadAfter(p, prev)
	}
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil
		}
	}
	data, _ := ra.blobs.Get(p, version(e))
	return data
}

// smallAheadAfter starts reading the files that a walk in the order of the
// cached listings meets after p: the rest of its directory, descending
// into the subdirectories on the way, then the rest of the parent after
// the directory, and so on up to the mount's root. prev, the file the
// process read before, is not read again.
func (f *fsys) smallAheadAfter(p, prev string) {
	w := aheadWalk{f: f, skip: prev}
	dir, name := cache.Parent(p), baseName(p)
	for !w.full() {
		l, ok := f.meta.Listing(dir)
		if !ok {
			return
		}
		i, ok := l.Index(name)
		if !ok {
			return
		}
		w.walk(dir, l, i+1, 0)
		if dir == f.opts.RemoteRoot || dir == "/" {
			return
		}
		dir, name = cache.Parent(dir), baseName(dir)
	}
}

// aheadWalk is one walk of smallAheadAfter.
type aheadWalk struct {
	f      *fsys
	skip   string // a path not to read ahead
	files  int    // files read ahead, or found read ahead already
	bytes  int64  // their bytes
	looked int    // entries looked at
}

// full reports whether the walk went far enough. It looks at a bounded
// number of entries, so that an open costs the same in a tree of any size.
func (w *aheadWalk) full() bool {
	return w.files >= blobsAhead || w.bytes >= blobBytesAhead || w.looked >= 4*blobsAhead
}

// walk reads ahead the small files of dir's listing l from slot from on,
// descending into subdirectories whose listings are cached.
func (w *aheadWalk) walk(dir string, l *cache.Listing[conn.Entry], from, depth int) {
	for n := from; n < l.Len() && !w.full(); n++ {
		w.looked++
		name, e := l.At(n)
		switch {
		case name == "":
		case e.Type == conn.TypeDir:
			sub := cache.Join(dir, name)
			if sl, ok := w.f.meta.Listing(sub); ok && depth < maxAheadDepth {
				w.walk(sub, sl, 0, depth+1)
			}
		case smallFile(e) && w.bytes+e.Size <= blobBytesAhead:
			if p := cache.Join(dir, name); p != w.skip {
				w.files++
				w.bytes += e.Size
				w.f.startReadAhead(p, e)
			}
		}
	}
}

// startReadAhead reads path, listed as e, into the blob cache in the
// background, unless it is there or under way. It waits for one of the
// connections for working ahead, and gives up if none frees up in aheadWait.
func (f *fsys) startReadAhead(path string, e conn.Entry) {
	ra := f.smallAhead
	if _, ok := ra.blobs.Get(path, version(e)); ok || f.wb.pendingAt(path) || f.cachedWhole(path, e) {
		return // read ahead already, queued for upload (the server has it not yet), or on local disk
	}
	ra.mu.Lock()
	if _, ok := ra.inflight[path]; ok {
		ra.mu.Unlock()
		return
	}
	done := make(chan struct{})
	ra.inflight[path] = done
	ra.mu.Unlock()
	finish := func() {
		ra.mu.Lock()
		delete(ra.inflight, path)
		ra.mu.Unlock()
		close(done)
	}
	started := f.bg.start(func(ctx context.Context) {
		defer finish()
		if !f.takeSlot(ctx) {
			return
		}
		defer f.releaseSlot()
		data, err := f.readWhole(ctx, path, e.Size)
		if err != nil {
			f.log.Debug("read ahead failed", "path", path, "err", err)
			return
		}
		ra.blobs.Put(path, data, version(e))
		f.cacheStore(path, e, data, 0)
	})
	if !started {
		finish() // the mount is closing
	}
}

// errChanged: a file read ahead did not have its listed size.
var errChanged = errors.New("the file's size differs from its listing")

// readWhole reads the file at path, which is listed with size bytes.
func (f *fsys) readWhole(ctx context.Context, path string, size int64) ([]byte, error) {
	r := f.remote.OpenFile(path, size)
	defer r.Close()
	// One byte more than listed shows a file that grew. ReadAt returns
	// fewer bytes than asked for only at the end of the file.
	buf := make([]byte, size+1)
	got, err := r.ReadAt(ctx, buf, 0)
	if err != nil && !atEOF(err) {
		return nil, err
	}
	if int64(got) != size {
		return nil, errChanged
	}
	return buf[:size:size], nil
}

// forgetContents drops what was read ahead of p, or below it for a
// directory, and what the content cache holds of it: ftpfs changed it.
func (f *fsys) forgetContents(p string, isDir bool) {
	if f.cc != nil {
		f.cc.Remove(p)
		if isDir {
			f.cc.RemoveBelow(p)
		}
	}
	if f.smallAhead == nil {
		return
	}
	f.smallAhead.blobs.Remove(p)
	if isDir {
		f.smallAhead.blobs.RemoveBelow(p)
	}
}
