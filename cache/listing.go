package cache

import (
	"sync"
	"time"
)

// Listing is one directory's entries, in the server's order, indexed by
// name so that a lookup in a directory of any size is one map access.
// ftpfs's own changes (a file created, renamed, removed) are applied to the
// cached listing in place rather than dropping it, so that untarring a
// thousand files into a directory does not fetch its listing a thousand
// times. A removed entry leaves an empty slot, which At reports with an
// empty name, so positions handed out to a reader stay valid.
type Listing[E any] struct {
	asked   time.Time // when the listing was asked for; set at creation
	mu      sync.RWMutex
	entries []E
	names   []string       // guarded by mu; "" for a removed entry
	index   map[string]int // guarded by mu
	version uint64         // guarded by mu; counts changes made in place
}

// NewListing indexes entries by the name that name returns for each. The
// first entry with a given name wins. asked is when the listing was asked
// for: what was learnt after that is newer than the listing.
func NewListing[E any](entries []E, name func(E) string, asked time.Time) *Listing[E] {
	l := &Listing[E]{
		asked:   asked,
		entries: make([]E, 0, len(entries)),
		names:   make([]string, 0, len(entries)),
		index:   make(map[string]int, len(entries)),
	}
	for _, e := range entries {
		n := name(e)
		if _, dup := l.index[n]; dup || n == "" {
			continue
		}
		l.index[n] = len(l.entries)
		l.entries = append(l.entries, e)
		l.names = append(l.names, n)
	}
	return l
}

// Asked returns when the listing was asked for.
func (l *Listing[E]) Asked() time.Time { return l.asked }

// Len returns the number of slots, removed entries included.
func (l *Listing[E]) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.names)
}

// At returns the i-th entry and its name; the name is empty for a slot
// whose entry was removed.
func (l *Listing[E]) At(i int) (string, E) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.names[i], l.entries[i]
}

// Get returns the entry called name.
func (l *Listing[E]) Get(name string) (E, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i, ok := l.index[name]
	if !ok {
		var zero E
		return zero, false
	}
	return l.entries[i], true
}

// Index returns the slot of the entry called name.
func (l *Listing[E]) Index(name string) (int, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i, ok := l.index[name]
	return i, ok
}

// Version counts the changes made in place since the listing was fetched.
func (l *Listing[E]) Version() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.version
}

// Set adds or replaces the entry called name.
func (l *Listing[E]) Set(name string, e E) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.version++
	if i, ok := l.index[name]; ok {
		l.entries[i] = e
		return
	}
	l.index[name] = len(l.entries)
	l.entries = append(l.entries, e)
	l.names = append(l.names, name)
}

// Delete removes the entry called name.
func (l *Listing[E]) Delete(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.index[name]
	if !ok {
		return
	}
	l.version++
	delete(l.index, name)
	l.names[i] = ""
	var zero E
	l.entries[i] = zero
}

// Count returns how many entries match.
func (l *Listing[E]) Count(match func(E) bool) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for i, e := range l.entries {
		if l.names[i] != "" && match(e) {
			n++
		}
	}
	return n
}
