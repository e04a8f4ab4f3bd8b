// Package ranges keeps a set of byte ranges of a file: which parts of a
// write buffer hold the server's bytes, in fs, and which parts of a file
// the content cache (cache/contentcache) holds.
package ranges

import (
	"fmt"
	"sort"
)

// Range is the half-open byte range [Off, End).
type Range struct{ Off, End int64 }

// Set is a set of byte offsets, held as ranges that are sorted, disjoint,
// non-empty and never touching (touching ranges are merged). The zero
// value is empty and ready to use; a Set is not safe for concurrent use.
type Set struct {
	rs []Range
}

// Add adds [off, end) to the set; an empty or inverted range adds nothing.
func (s *Set) Add(off, end int64) {
	if off >= end {
		return
	}
	// The first range that ends at or after off may touch or overlap.
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].End >= off })
	j := i
	for j < len(s.rs) && s.rs[j].Off <= end {
		off, end = min(off, s.rs[j].Off), max(end, s.rs[j].End)
		j++
	}
	s.rs = append(s.rs[:i], append([]Range{{off, end}}, s.rs[j:]...)...)
}

// Gaps returns the parts of [off, end) that are not in the set, in order.
func (s *Set) Gaps(off, end int64) []Range {
	var out []Range
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].End > off })
	for ; i < len(s.rs) && off < end; i++ {
		r := s.rs[i]
		if r.Off >= end {
			break
		}
		if r.Off > off {
			out = append(out, Range{off, r.Off})
		}
		off = max(off, r.End)
	}
	if off < end {
		out = append(out, Range{off, end})
	}
	return out
}

// Covers reports whether every byte of [off, end) is in the set; an empty
// or inverted range is covered.
func (s *Set) Covers(off, end int64) bool {
	if off >= end {
		return true
	}
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].End > off })
	// Ranges never touch, so one range must hold all of [off, end).
	return i < len(s.rs) && s.rs[i].Off <= off && s.rs[i].End >= end
}

// Bytes returns how many bytes the set holds.
func (s *Set) Bytes() int64 {
	var n int64
	for _, r := range s.rs {
		n += r.End - r.Off
	}
	return n
}

// Ranges returns a copy of the set's ranges, in order.
func (s *Set) Ranges() []Range { return append([]Range(nil), s.rs...) }

// Check reports a broken invariant: ranges unsorted, empty, overlapping or
// touching. Tests call it after every change.
func (s *Set) Check() error {
	for i, r := range s.rs {
		if r.Off >= r.End {
			return fmt.Errorf("range %d is empty: %v", i, r)
		}
		if i > 0 && s.rs[i-1].End >= r.Off {
			return fmt.Errorf("ranges %d and %d touch or overlap: %v %v", i-1, i, s.rs[i-1], r)
		}
	}
	return nil
}
