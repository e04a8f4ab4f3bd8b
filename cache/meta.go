package cache

import (
	"strings"
	"sync"
	"time"
)

// Meta caches directory listings and single entries by absolute path for a
// fixed time to live. A listing answers lookups of every name in its
// directory, present or absent, so that `ls -l` and a shell probing for
// files that do not exist cost one listing per directory. Single entries,
// negative ones included, cover what was learnt without a listing.
type Meta[E any] struct {
	ttl     time.Duration
	now     func() time.Time
	dirs    *ttlLRU[string, *Listing[E]]
	entries *ttlLRU[string, slot[E]]

	// changes are ftpfs's own recent changes per directory, so that a
	// listing asked for before a change and arriving after it does not
	// undo it: PutListing replays the newer ones onto it.
	mu      sync.Mutex
	changes map[string][]change[E] // guarded by mu
}

type slot[E any] struct {
	e        E
	negative bool
	at       time.Time
}

type change[E any] struct {
	name     string
	e        E
	negative bool
	at       time.Time
}

// Result says what the cache knows about a path.
type Result uint8

// The answers of Meta.Lookup.
const (
	Unknown Result = iota // nothing cached: ask the server
	Found                 // the entry exists; see the returned value
	Absent                // known not to exist
)

// NewMeta returns a cache whose items live for ttl, holding at most maxDirs
// listings and maxEntries single entries. A ttl of zero or less disables
// caching: every lookup reports Unknown.
func NewMeta[E any](ttl time.Duration, maxDirs, maxEntries int) *Meta[E] {
	return NewMetaClock[E](ttl, maxDirs, maxEntries, time.Now)
}

// NewMetaClock is NewMeta with the clock that times to live are measured
// by, and changes stamped with: time.Now, or a test's.
func NewMetaClock[E any](ttl time.Duration, maxDirs, maxEntries int, now func() time.Time) *Meta[E] {
	m := &Meta[E]{ttl: ttl, now: now, changes: map[string][]change[E]{}}
	if ttl > 0 {
		m.dirs = newTTLLRU[string, *Listing[E]](maxDirs, ttl, now)
		m.entries = newTTLLRU[string, slot[E]](maxEntries, ttl, now)
	}
	return m
}

// TTL returns the time to live the cache was made with.
func (m *Meta[E]) TTL() time.Duration { return m.ttl }

// Listing returns the cached listing of dir.
func (m *Meta[E]) Listing(dir string) (*Listing[E], bool) {
	if m.dirs == nil {
		return nil, false
	}
	return m.dirs.Get(dir)
}

// PeekListing returns the cached listing of dir, leaving its place in
// the cache as it was: for a look that must not keep it alive.
func (m *Meta[E]) PeekListing(dir string) (*Listing[E], bool) {
	if m.dirs == nil {
		return nil, false
	}
	return m.dirs.Peek(dir)
}

// PutListing caches the listing of dir. Single entries learnt before the
// listing was asked for are superseded by it and dropped; changes made
// after (or at the same instant: the change is what ftpfs knows) are
// replayed onto it.
func (m *Meta[E]) PutListing(dir string, l *Listing[E]) {
	if m.dirs == nil {
		return
	}
	m.replay(dir, l)
	m.dirs.Add(dir, l)
	for i := 0; i < l.Len() && m.entries.Len() > 0; i++ {
		name, _ := l.At(i)
		if name == "" {
			continue
		}
		if s, ok := m.entries.Peek(Join(dir, name)); ok && s.at.Before(l.Asked()) {
			m.entries.Remove(Join(dir, name))
		}
	}
}

// replay applies to l the changes of dir made after l was asked for, and
// forgets those older than the time to live.
func (m *Meta[E]) replay(dir string, l *Listing[E]) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keep []change[E]
	for _, c := range m.changes[dir] {
		if m.now().Sub(c.at) > m.ttl {
			continue
		}
		keep = append(keep, c)
		if !c.at.Before(l.Asked()) { // a tie goes to the change
			if c.negative {
				l.Delete(c.name)
			} else {
				l.Set(c.name, c.e)
			}
		}
	}
	if len(keep) == 0 {
		delete(m.changes, dir)
	} else {
		m.changes[dir] = keep
	}
}

// record notes a change for replay.
func (m *Meta[E]) record(dir string, c change[E]) {
	m.mu.Lock()
	m.changes[dir] = append(m.changes[dir], c)
	m.mu.Unlock()
}

// Lookup answers for the child name of dir from a single entry if one is
// cached, else from the listing of dir; the time says how fresh the answer
// is (when it was learnt, or when the listing was asked for).
func (m *Meta[E]) Lookup(dir, name string) (E, Result, time.Time) {
	var zero E
	if m.dirs == nil {
		return zero, Unknown, time.Time{}
	}
	if s, ok := m.entries.Get(Join(dir, name)); ok {
		if s.negative {
			return zero, Absent, s.at
		}
		return s.e, Found, s.at
	}
	l, ok := m.dirs.Get(dir)
	if !ok {
		return zero, Unknown, time.Time{}
	}
	if e, ok := l.Get(name); ok {
		return e, Found, l.Asked()
	}
	return zero, Absent, l.Asked()
}

// PutEntry caches what is known of one path, learnt at at.
func (m *Meta[E]) PutEntry(path string, e E, at time.Time) {
	if m.entries != nil {
		m.entries.Add(path, slot[E]{e: e, at: at})
	}
}

// PutNegative caches that path did not exist at at.
func (m *Meta[E]) PutNegative(path string, at time.Time) {
	if m.entries != nil {
		m.entries.Add(path, slot[E]{negative: true, at: at})
	}
}

// Update records that the child name of dir now is e, in the listing of
// dir if one is cached and as a single entry.
func (m *Meta[E]) Update(dir, name string, e E) {
	if m.dirs == nil {
		return
	}
	now := m.now()
	if l, ok := m.dirs.Peek(dir); ok {
		l.Set(name, e)
	}
	m.entries.Add(Join(dir, name), slot[E]{e: e, at: now})
	m.record(dir, change[E]{name: name, e: e, at: now})
}

// Remove records that the child name of dir no longer exists.
func (m *Meta[E]) Remove(dir, name string) {
	if m.dirs == nil {
		return
	}
	now := m.now()
	if l, ok := m.dirs.Peek(dir); ok {
		l.Delete(name)
	}
	m.entries.Add(Join(dir, name), slot[E]{negative: true, at: now})
	m.record(dir, change[E]{name: name, negative: true, at: now})
}

// Invalidate forgets path, its listing if it is a directory, and the
// listing of its parent, which named it.
func (m *Meta[E]) Invalidate(path string) {
	if m.dirs == nil {
		return
	}
	m.entries.Remove(path)
	m.dirs.Remove(path)
	m.dirs.Remove(Parent(path))
}

// InvalidateTree forgets path, its parent's listing and everything below
// path.
func (m *Meta[E]) InvalidateTree(path string) {
	if m.dirs == nil {
		return
	}
	m.Invalidate(path)
	m.ForgetBelow(path)
}

// ForgetBelow forgets the listing of path and everything cached below it,
// as the removal or rename of a directory requires; the parent's knowledge
// of path itself is left alone.
func (m *Meta[E]) ForgetBelow(path string) {
	if m.dirs == nil {
		return
	}
	m.dirs.Remove(path)
	prefix := strings.TrimSuffix(path, "/") + "/"
	for _, k := range m.dirs.Keys() {
		if strings.HasPrefix(k, prefix) {
			m.dirs.Remove(k)
		}
	}
	for _, k := range m.entries.Keys() {
		if strings.HasPrefix(k, prefix) {
			m.entries.Remove(k)
		}
	}
}

// Join returns the path of name inside dir. Names never contain "/", so
// unlike path.Join it does not clean: a name like ".." stays a name.
func Join(dir, name string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// Parent returns the directory holding path ("/" for "/").
func Parent(path string) string {
	i := strings.LastIndexByte(strings.TrimSuffix(path, "/"), '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
}
