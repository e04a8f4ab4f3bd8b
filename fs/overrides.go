package fs

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/ftpfs/ftpfs/conn"
)

// This file is the home of attributes that ftpfs holds for the server:
// modes and times it could not store (overrides), and those waiting for a
// file's upload to carry them (pending), with what settles them.

// override is what ftpfs was told about a file that the server could not
// store or does not report: a mode set by chmod where the listing shows
// none (or SITE CHMOD is missing), a time set where the server has neither
// MFMT nor vsftpd's MDTM form. It is shown until the file is removed or
// the mount ends.
type override struct {
	mode     uint32
	hasMode  bool
	mtime    time.Time
	hasMtime bool
	// pendingMode and pendingTime: mode or mtime waits for the file's
	// upload, after which it is sent.
	pendingMode bool
	pendingTime bool
}

// overrides holds them by remote path.
type overrides struct {
	mu sync.Mutex
	m  map[string]override // guarded by mu
}

func (o *overrides) get(path string) (override, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.m[path]
	return v, ok
}

func (o *overrides) update(path string, fn func(*override)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]override{}
	}
	v := o.m[path]
	fn(&v)
	o.m[path] = v
}

// remove forgets path and everything below it.
func (o *overrides) remove(path string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k := range o.m {
		if k == path || strings.HasPrefix(k, path+"/") {
			delete(o.m, k)
		}
	}
}

// move follows a rename of path, and of everything below it.
func (o *overrides) move(from, to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	moved := map[string]override{}
	for k, v := range o.m {
		if k == from || strings.HasPrefix(k, from+"/") {
			delete(o.m, k)
			moved[to+k[len(from):]] = v
		}
	}
	for k, v := range moved {
		o.m[k] = v
	}
}

// pendingAttrs returns the mode and time waiting for p's upload, which the
// upload then sets in its last round trip.
func (f *fsys) pendingAttrs(p string) conn.Attrs {
	var a conn.Attrs
	if o, ok := f.overrides.get(p); ok {
		a.Mode, a.HasMode = o.mode, o.hasMode && o.pendingMode
		a.ModTime, a.HasTime = o.mtime, o.hasMtime && o.pendingTime
	}
	return a
}

// settlePending records what the upload did with the pending attributes:
// a time the server took is the server's to show from now on; a mode, and
// what the server did not take, stay shown by ftpfs.
func (f *fsys) settlePending(p string, a conn.Attrs, applied conn.Applied) {
	if !a.HasMode && !a.HasTime {
		return
	}
	f.overrides.update(p, func(o *override) {
		// A mode or time set again since the upload began stays pending.
		if a.HasMode && o.mode == a.Mode {
			o.pendingMode = false
		}
		if a.HasTime && o.mtime.Equal(a.ModTime) {
			o.pendingTime = false
			if applied.Time {
				o.hasMtime = false
			}
		}
	})
	if a.HasTime && applied.Time {
		f.cacheTouch(p, serverTime(a.ModTime))
	}
	if a.HasMode && !applied.Mode {
		f.log.Debug("the server did not take the mode; ftpfs keeps showing it", "path", p)
	}
}

// applyPending sends the mode and time set while the file's upload was
// pending: the mode first, as some servers reset times on SITE CHMOD.
func (f *fsys) applyPending(ctx context.Context, p string) {
	o, ok := f.overrides.get(p)
	if !ok {
		return
	}
	if o.hasMode && o.pendingMode {
		if errno := f.setMode(ctx, p, o.mode, false); errno != 0 {
			f.log.Warn("could not set the mode after upload", "path", p, "errno", errno)
		}
	}
	if o.hasMtime && o.pendingTime {
		if errno := f.setTime(ctx, p, o.mtime, false); errno != 0 {
			f.log.Warn("could not set the time after upload", "path", p, "errno", errno)
		}
	}
}

// withShownTime returns a with the time the file shows, in the whole
// seconds that listings (MLSD, MDTM) give, unless a carries a time set by
// the application. The upload sets it on the server in its last round
// trip: what the mount showed and what the server lists later then agree,
// and editors that compare the two (vim: "The file has been changed since
// reading it") and make see no change that nobody made.
func withShownTime(a conn.Attrs, mtime time.Time) conn.Attrs {
	if !a.HasTime {
		a.ModTime, a.HasTime = mtime.Truncate(time.Second), true
	}
	return a
}

// serverTime is t as the server stores it: MFMT and vsftpd's MDTM form
// carry whole seconds (RFC 3659 section 2.3 allows fractions; ftpfs sends
// none, as not every server parses them). A time set here shows so at
// once, as later listings will show it. A time the server cannot store is
// an override and keeps its fraction.
func serverTime(t time.Time) time.Time { return t.Truncate(time.Second) }
