package fs

import (
	"strings"
	"sync"
	"time"
)

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
