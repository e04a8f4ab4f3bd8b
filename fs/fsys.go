package fs

import (
	"context"
	iofs "io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpfs/ftpfs/cache"
	"github.com/ftpfs/ftpfs/cache/contentcache"
	"github.com/ftpfs/ftpfs/conn"
)

// Options shape the mounted tree.
type Options struct {
	// Source names the mount in the mount table, e.g. "host:/pub".
	Source string
	// RemoteRoot is the absolute server path shown at the mount point.
	RemoteRoot string
	// CacheTTL is how long listings and attributes are trusted, in ftpfs
	// and in the kernel. Zero turns the kernel's caching off; ftpfs still
	// reuses a listing for minListingTTL.
	CacheTTL time.Duration
	// NegativeTTL is how long a name missing from a listing is taken as
	// absent before a lookup asks again; RevalidateAfter, how old a file's
	// entry may be before an open asks the server for it. Zero means the
	// defaults, negativeTTL and revalidateAfter; a nanosecond, every time.
	NegativeTTL, RevalidateAfter time.Duration
	// UID and GID own every file, as FTP carries no usable ownership.
	UID, GID uint32
	// Umask, when set, replaces the server's permission bits' masking:
	// files show 0666&^Umask or their listed mode &^Umask.
	Umask    uint32
	HasUmask bool
	// CacheDir holds the spill files of files being written, and the
	// copies of uploads that failed.
	CacheDir string
	// ReadOnly mounts the tree read-only.
	ReadOnly bool
	// AllowOther and DefaultPermissions are the FUSE options of those
	// names: let other users in, and let the kernel check permissions.
	AllowOther         bool
	DefaultPermissions bool
	// Logger receives warnings and, at debug level, operations.
	Logger *slog.Logger
	// Writeback makes close(2) return once a file's bytes are queued on
	// local disk, in QueueDir, and uploads them in the background.
	Writeback bool
	QueueDir  string
	// DirectUpload: uploads are written in place (conn.Config's
	// DirectUpload), so a rewrite leaves the directory's time alone.
	DirectUpload bool
	// clock is what listings' and entries' ages are measured by: time.Now
	// unless a test of this package moves its own.
	clock func() time.Time
	// ContentCacheDir holds the content cache of this mount's identity
	// (server, port, user, remote root; ContentIdentity says it for
	// people), bounded by ContentCacheMax bytes; 0 turns it off.
	ContentCacheDir string
	ContentIdentity string
	ContentCacheMax int64
	// PrefetchConns is how many connections listing subdirectories ahead
	// of a walk, and reading small files ahead of a process reading them
	// in turn, may use at once; 0 turns both off.
	PrefetchConns int
}

// fsys is the state shared by every node of one mount.
type fsys struct {
	remote Remote
	opts   Options
	meta   *cache.Meta[conn.Entry]
	inodes *inodeTable
	// overrides keeps modes and times the server could not store.
	overrides overrides
	log       *slog.Logger
	mounted   time.Time

	// inflight merges concurrent fetches of one listing.
	mu       sync.Mutex
	inflight map[string]*fetch // guarded by mu
	// aheadSlots bounds the listings and files fetched ahead of time.
	aheadSlots chan struct{}
	// smallAhead reads small files ahead of a process reading them in turn;
	// nil without connections for it (PrefetchConns).
	smallAhead *smallAhead
	// wb queues uploads in writeback mode; nil otherwise.
	wb *wbQueue
	// listingAhead holds the directories waiting to be listed ahead.
	listingAhead map[string]bool // guarded by mu
	// writing holds the files that have a content, for the shutdown.
	writing map[*fileNode]struct{} // guarded by mu
	// closing is set once a shutdown has given up on open files.
	closing atomic.Bool
	// bg runs what works ahead or alongside; Server.Close ends it.
	bg *background
	// limit is the largest file size (limits.go).
	limit fileLimit
	// cc keeps the bytes of files read, across mounts; nil when off, and
	// ccNote then says why.
	cc     *contentcache.Cache
	ccNote string
}

// fetch is one listing being fetched; waiters block on done.
type fetch struct {
	done chan struct{}
	l    *cache.Listing[conn.Entry]
	err  error
}

const (
	maxCachedDirs    = 4096
	maxCachedEntries = 65536
	// minListingTTL is how long ftpfs reuses a listing even with caching
	// off: `ls -l` stats every name right after reading the directory, and
	// a listing per stat would cost a round trip per entry.
	minListingTTL = time.Second
	// negativeTTL is how long a name missing from a listing is taken as
	// absent: a lookup of it after that asks the server again (one
	// listing of its directory), so that a directory made on the server
	// opens on the mount within seconds, not after cache_timeout. Shorter
	// than positive answers, as gcsfuse's 5 s against 60 s; every create
	// looks its name up first, so a shorter one would relist a directory
	// being filled by tar once a second.
	negativeTTL = 5 * time.Second
	// revalidateAfter: an open of a file whose entry is older than this
	// asks the server for its size and time first (close-to-open, as NFS
	// does on every open), so that a file changed on the server reads
	// whole and new.
	revalidateAfter = 5 * time.Second
)

func newFsys(remote Remote, opts Options) *fsys {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.clock == nil {
		opts.clock = time.Now
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = negativeTTL
	}
	if opts.RevalidateAfter <= 0 {
		opts.RevalidateAfter = revalidateAfter
	}
	var slots chan struct{}
	if opts.PrefetchConns > 0 {
		slots = make(chan struct{}, opts.PrefetchConns)
	}
	var ahead *smallAhead
	if slots != nil {
		ahead = newSmallAhead()
	}
	return &fsys{
		aheadSlots:   slots,
		smallAhead:   ahead,
		remote:       remote,
		opts:         opts,
		meta:         cache.NewMetaClock[conn.Entry](max(opts.CacheTTL, minListingTTL), maxCachedDirs, maxCachedEntries, opts.clock),
		inodes:       newInodeTable(),
		log:          opts.Logger,
		mounted:      opts.clock(),
		inflight:     map[string]*fetch{},
		listingAhead: map[string]bool{},
		writing:      map[*fileNode]struct{}{},
		bg:           newBackground(),
	}
}

func entryName(e conn.Entry) string { return e.Name }

// now is the time by the mount's clock (Options.clock).
func (f *fsys) now() time.Time { return f.opts.clock() }

// listing returns the listing of dir from the cache or the server. Callers
// asking for the same directory at once share one fetch.
func (f *fsys) listing(ctx context.Context, dir string) (*cache.Listing[conn.Entry], error) {
	return f.listingSince(ctx, dir, time.Time{})
}

// listingSince is listing for a caller that takes no cached listing asked
// for before since.
func (f *fsys) listingSince(ctx context.Context, dir string, since time.Time) (*cache.Listing[conn.Entry], error) {
	if l, ok := f.meta.Listing(dir); ok && !l.Asked().Before(since) {
		return l, nil
	}
	f.mu.Lock()
	if w, ok := f.inflight[dir]; ok {
		f.mu.Unlock()
		select {
		case <-w.done:
			return w.l, w.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	w := &fetch{done: make(chan struct{})}
	f.inflight[dir] = w
	f.mu.Unlock()

	asked := f.now()
	// The fetch is shared: it lives until done or the mount ends, not as
	// long as the caller that happened to start it.
	fctx, cancel := context.WithCancel(f.bg.ctx)
	entries, err := f.remote.List(fctx, dir)
	cancel()
	entries = withoutTempNames(entries)
	if err == nil {
		w.l = cache.NewListing(entries, entryName, asked)
		f.wb.overlay(dir, w.l)
		f.meta.PutListing(dir, w.l)
	}
	w.err = err
	f.mu.Lock()
	delete(f.inflight, dir)
	f.mu.Unlock()
	close(w.done)
	return w.l, w.err
}

// lookup returns the entry called name in dir, and how fresh it is. A name
// found absent more than negativeTTL ago is asked for again.
func (f *fsys) lookup(ctx context.Context, dir, name string) (conn.Entry, time.Time, error) {
	var since time.Time
	switch e, r, at := f.meta.Lookup(dir, name); r {
	case cache.Found:
		return e, at, nil
	case cache.Absent:
		if f.now().Sub(at) < f.opts.NegativeTTL {
			return conn.Entry{}, at, errNotExist
		}
		since = f.now().Add(-f.opts.NegativeTTL)
	}
	l, err := f.listingSince(ctx, dir, since)
	if err != nil {
		return conn.Entry{}, time.Time{}, err
	}
	e, ok := l.Get(name)
	if !ok {
		f.meta.PutNegative(cache.Join(dir, name), l.Asked())
		return conn.Entry{}, l.Asked(), errNotExist
	}
	return e, l.Asked(), nil
}

// cacheUpdate records e as the entry at p, in the parent's cached listing
// too, so that `ls` right after a change shows it without a new listing.
func (f *fsys) cacheUpdate(p string, e conn.Entry) {
	e.Name, e.TimeGrain = baseName(p), 0 // ftpfs's own change: its time is exact
	f.meta.Update(cache.Parent(p), e.Name, e)
	f.forgetContents(p, e.Type == conn.TypeDir)
}

// cacheRemove records that p is gone; for a directory, with everything
// below it.
func (f *fsys) cacheRemove(p string, isDir bool) {
	f.meta.Remove(cache.Parent(p), baseName(p))
	if isDir {
		f.meta.ForgetBelow(p)
	}
	f.forgetContents(p, isDir)
	f.overrides.remove(p)
}

// cacheTouch records a new modification time for p, where p is cached.
func (f *fsys) cacheTouch(p string, t time.Time) {
	if e, r, _ := f.meta.Lookup(cache.Parent(p), baseName(p)); r == cache.Found {
		e.ModTime, e.HasTime = t, true
		f.cacheUpdate(p, e)
	}
}

// dirChanged records that an entry of dir was created, removed, renamed
// or replaced (an upload renames its temporary file over the old one):
// the server's directory time advances, now or when a journaled upload
// lands, and so does the time shown, as on a local filesystem. A time set
// on dir before no longer holds, and tools that compare it (rsync, which
// sets a directory's time again when it differs) see that.
func (f *fsys) dirChanged(dir string) {
	if _, ok := f.overrides.get(dir); ok {
		f.overrides.update(dir, func(o *override) { o.hasMtime, o.pendingTime = false, false })
	}
	// Whole seconds, as the server stores and lists it (MLSD).
	f.cacheTouch(dir, f.now().Truncate(time.Second))
}

// track records whether n holds a content.
func (f *fsys) track(n *fileNode, holding bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if holding {
		f.writing[n] = struct{}{}
	} else {
		delete(f.writing, n)
	}
}

// abandonOpen is for a shutdown while files are still open for writing:
// from now on nothing more is written or uploaded, and what the open files
// hold is kept locally, never uploaded half-written (see abandon). It
// returns how many files had bytes kept.
func (f *fsys) abandonOpen() int {
	f.closing.Store(true)
	f.mu.Lock()
	nodes := make([]*fileNode, 0, len(f.writing))
	for n := range f.writing {
		nodes = append(nodes, n)
	}
	f.mu.Unlock()
	kept := 0
	for _, n := range nodes {
		if n.abandon() {
			kept++
		}
	}
	return kept
}

// errShuttingDown is what a write or an upload gets once a shutdown has
// given up on the files still open.
var errShuttingDown = &conn.Error{Op: "write", Msg: "ftpfs is shutting down; the file's bytes are kept locally", Err: iofs.ErrClosed}

// isTempName reports an upload's temporary name, ".NAME" + conn.TempSuffix:
// an upload in flight, or one a crash left, which the next upload of NAME
// takes over. Listings leave them out; rmdir removes those it finds.
func isTempName(name string) bool {
	return len(name) > len(conn.TempSuffix)+1 && name[0] == '.' && strings.HasSuffix(name, conn.TempSuffix)
}

func withoutTempNames(entries []conn.Entry) []conn.Entry {
	out := entries[:0]
	for _, e := range entries {
		if !isTempName(e.Name) {
			out = append(out, e)
		}
	}
	return out
}
