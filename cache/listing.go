package cache

// Listing is an immutable snapshot of one directory, in the server's order,
// indexed by name so that a lookup in a directory of any size is one map
// access.
type Listing[E any] struct {
	entries []E
	names   []string
	index   map[string]int
}

// NewListing indexes entries by the name that name returns for each. The
// first entry with a given name wins.
func NewListing[E any](entries []E, name func(E) string) *Listing[E] {
	l := &Listing[E]{
		entries: make([]E, 0, len(entries)),
		names:   make([]string, 0, len(entries)),
		index:   make(map[string]int, len(entries)),
	}
	for _, e := range entries {
		n := name(e)
		if _, dup := l.index[n]; dup {
			continue
		}
		l.index[n] = len(l.entries)
		l.entries = append(l.entries, e)
		l.names = append(l.names, n)
	}
	return l
}

// Len returns the number of entries.
func (l *Listing[E]) Len() int { return len(l.entries) }

// At returns the i-th entry and its name.
func (l *Listing[E]) At(i int) (string, E) { return l.names[i], l.entries[i] }

// Get returns the entry called name.
func (l *Listing[E]) Get(name string) (E, bool) {
	i, ok := l.index[name]
	if !ok {
		var zero E
		return zero, false
	}
	return l.entries[i], true
}
