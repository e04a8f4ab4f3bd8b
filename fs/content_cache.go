package fs

import (
	"errors"
	"time"

	"github.com/ftpfs/ftpfs/cache/contentcache"
	"github.com/ftpfs/ftpfs/conn"
)

// coarseTrustAfter: a file listed with a coarse time (LIST's minute or
// day, conn.Entry.TimeGrain) is kept in the content cache only once its
// time, plus the grain, is this far in the past. A rewrite of the same
// size within the listed minute would show the same time, and go
// unnoticed; a change later than this shows a later minute. A day covers
// servers that list local time as if it were UTC (up to 14 hours off).
const coarseTrustAfter = 24 * time.Hour

// openContentCache opens the mount's content cache, or leaves it off: with
// no budget, or when another mount of the same identity holds it (said in
// the log once).
func (f *fsys) openContentCache() {
	o := f.opts
	if o.ContentCacheMax <= 0 || o.ContentCacheDir == "" {
		f.ccNote = "off (cache_max_size=0)"
		return
	}
	c, err := contentcache.Open(o.ContentCacheDir, o.ContentIdentity, o.ContentCacheMax)
	if errors.Is(err, contentcache.ErrBusy) {
		f.ccNote = "off: another ftpfs mount of this server, user and directory uses it"
		f.log.Warn("the content cache is in use by another mount of the same server, user and directory; files read are not cached by this mount (give it another cache_dir to have one)",
			"dir", o.ContentCacheDir)
		return
	}
	if err != nil {
		f.ccNote = "off: " + err.Error()
		f.log.Warn("content cache off", "err", err)
		return
	}
	f.cc = c
}

// closeContentCache writes what the content cache must remember for the
// next mount. Called once the mount's work has ended.
func (f *fsys) closeContentCache() {
	if f.cc == nil {
		return
	}
	if err := f.cc.Close(); err != nil {
		f.log.Warn("content cache: not all it holds will be known to the next mount", "err", err)
	}
}

// cacheVersion returns the version under which the bytes of a file listed
// as e are kept in the content cache, and false where they are not: the
// cache is off, e is no file, has no time (a change that keeps the size
// would go unnoticed), is too large, or has a coarse time that is recent
// (coarseTrustAfter).
func (f *fsys) cacheVersion(e conn.Entry) (contentcache.Version, bool) {
	if f.cc == nil || e.Type != conn.TypeFile || !e.HasTime || !f.cc.Cacheable(e.Size) {
		return contentcache.Version{}, false
	}
	if e.TimeGrain > 0 && f.now().Sub(e.ModTime.Add(e.TimeGrain)) < coarseTrustAfter {
		return contentcache.Version{}, false
	}
	return contentcache.Version{Size: e.Size, ModTime: e.ModTime, Unique: e.Unique}, true
}

// cacheStore writes bytes read from the server at p, listed as e, through
// to the content cache. A failure loses only the cache's copy.
func (f *fsys) cacheStore(p string, e conn.Entry, data []byte, off int64) {
	v, ok := f.cacheVersion(e)
	if !ok || len(data) == 0 {
		return
	}
	if err := f.cc.WriteAt(p, v, data, off); err != nil {
		f.log.Debug("content cache: not kept", "path", p, "err", err)
	}
}

// cachedWhole reports whether the content cache holds all of p, listed as
// e: reading it ahead would fetch it for nothing.
func (f *fsys) cachedWhole(p string, e conn.Entry) bool {
	v, ok := f.cacheVersion(e)
	return ok && f.cc.Has(p, v)
}
