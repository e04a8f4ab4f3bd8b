package cache

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

type ent struct{ name, v string }

func named(e ent) string { return e.name }

func TestMetaLookup(t *testing.T) {
	m := NewMeta[ent](time.Minute, 10, 10)
	if _, r, _ := m.Lookup("/d", "a"); r != Unknown {
		t.Fatalf("empty cache: %v, want Unknown", r)
	}
	m.PutListing("/d", NewListing([]ent{{"a", "1"}, {"b", "2"}, {"a", "dup"}}, named, time.Now()))
	cases := []struct {
		name string
		want Result
		v    string
	}{
		{"a", Found, "1"}, {"b", Found, "2"}, {"c", Absent, ""},
	}
	for _, c := range cases {
		e, r, _ := m.Lookup("/d", c.name)
		if r != c.want || e.v != c.v {
			t.Errorf("Lookup(%q) = %v %q, want %v %q", c.name, r, e.v, c.want, c.v)
		}
	}
	m.PutEntry("/d/c", ent{"c", "3"}, time.Now())
	if e, r, _ := m.Lookup("/d", "c"); r != Found || e.v != "3" {
		t.Errorf("single entry not preferred: %v %q", r, e.v)
	}
	m.PutNegative("/d/a", time.Now())
	if _, r, _ := m.Lookup("/d", "a"); r != Absent {
		t.Errorf("negative entry not honoured: %v", r)
	}
	m.PutListing("/d", NewListing([]ent{{"a", "4"}}, named, time.Now()))
	if e, r, _ := m.Lookup("/d", "a"); r != Found || e.v != "4" {
		t.Errorf("newer listing did not supersede the negative entry: %v %q", r, e.v)
	}
}

func TestMetaInvalidate(t *testing.T) {
	m := NewMeta[ent](time.Minute, 10, 10)
	m.PutListing("/", NewListing([]ent{{"d", ""}}, named, time.Now()))
	m.PutListing("/d", NewListing([]ent{{"x", ""}}, named, time.Now()))
	m.PutListing("/d/sub", NewListing([]ent{{"y", ""}}, named, time.Now()))
	m.PutListing("/dd", NewListing([]ent{{"z", ""}}, named, time.Now()))
	m.PutEntry("/d/sub/y", ent{"y", ""}, time.Now())
	m.InvalidateTree("/d")
	for _, dir := range []string{"/", "/d", "/d/sub"} {
		if _, ok := m.Listing(dir); ok {
			t.Errorf("listing of %s survived", dir)
		}
	}
	if _, r, _ := m.Lookup("/d/sub", "y"); r != Unknown {
		t.Errorf("entry below the tree survived: %v", r)
	}
	if _, ok := m.Listing("/dd"); !ok {
		t.Error("a sibling sharing the prefix was dropped")
	}
}

func TestMetaExpiry(t *testing.T) {
	m := NewMeta[ent](50*time.Millisecond, 10, 10)
	m.PutListing("/d", NewListing([]ent{{"a", ""}}, named, time.Now()))
	time.Sleep(120 * time.Millisecond)
	if _, r, _ := m.Lookup("/d", "a"); r != Unknown {
		t.Errorf("entry outlived its TTL: %v", r)
	}
}

func TestMetaDisabled(t *testing.T) {
	m := NewMeta[ent](0, 10, 10)
	m.PutListing("/d", NewListing([]ent{{"a", ""}}, named, time.Now()))
	m.PutNegative("/d/b", time.Now())
	if _, r, _ := m.Lookup("/d", "a"); r != Unknown {
		t.Errorf("a cache with TTL 0 answered %v", r)
	}
}

func TestJoinParent(t *testing.T) {
	cases := []struct{ dir, name, joined, parent string }{
		{"/", "a", "/a", "/"},
		{"/a", "b", "/a/b", "/a"},
		{"/a/", "..", "/a/..", "/a"},
		{"/a b", "c d", "/a b/c d", "/a b"},
	}
	for _, c := range cases {
		if got := Join(c.dir, c.name); got != c.joined {
			t.Errorf("Join(%q, %q) = %q, want %q", c.dir, c.name, got, c.joined)
		}
		if got := Parent(c.joined); got != c.parent {
			t.Errorf("Parent(%q) = %q, want %q", c.joined, got, c.parent)
		}
	}
}

func TestMetaUpdateRemove(t *testing.T) {
	m := NewMeta[ent](time.Minute, 10, 10)
	m.PutListing("/d", NewListing([]ent{{"a", "1"}, {"b", "2"}}, named, time.Now()))
	m.Update("/d", "c", ent{"c", "3"})
	m.Update("/d", "a", ent{"a", "4"})
	m.Remove("/d", "b")
	l, _ := m.Listing("/d")
	var names []string
	for i := 0; i < l.Len(); i++ {
		if n, e := l.At(i); n != "" {
			names = append(names, n+"="+e.v)
		}
	}
	if got := strings.Join(names, ","); got != "a=4,c=3" {
		t.Errorf("listing after changes: %s", got)
	}
	if _, r, _ := m.Lookup("/d", "b"); r != Absent {
		t.Errorf("removed entry: %v", r)
	}
	m.Update("/nocache", "x", ent{"x", "5"})
	if e, r, _ := m.Lookup("/nocache", "x"); r != Found || e.v != "5" {
		t.Errorf("update without a listing: %v %q", r, e.v)
	}
}

// BenchmarkMetaLookup looks names up in a cached 10,000-entry listing, as
// the lookups of one `ls -l` do.
func BenchmarkMetaLookup(b *testing.B) {
	ents := make([]ent, 10000)
	for i := range ents {
		ents[i] = ent{name: "file-" + strconv.Itoa(i)}
	}
	m := NewMeta[ent](time.Minute, 16, 16)
	m.PutListing("/d", NewListing(ents, named, time.Now()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, r, _ := m.Lookup("/d", ents[i%len(ents)].name); r != Found {
			b.Fatal("not found")
		}
	}
}

// TestMetaStaleListing: a listing asked for before a change and arriving
// after it must not undo the change.
func TestMetaStaleListing(t *testing.T) {
	m := NewMeta[ent](time.Minute, 10, 10)
	asked := time.Now()
	time.Sleep(time.Millisecond)
	m.Update("/d", "new", ent{"new", "mine"})
	m.Remove("/d", "gone")
	m.PutListing("/d", NewListing([]ent{{"gone", "old"}, {"other", "x"}}, named, asked))
	if e, r, _ := m.Lookup("/d", "new"); r != Found || e.v != "mine" {
		t.Errorf("new file after a stale listing: %v %q", r, e.v)
	}
	if _, r, _ := m.Lookup("/d", "gone"); r != Absent {
		t.Errorf("removed file after a stale listing: %v", r)
	}
	l, _ := m.Listing("/d")
	if _, ok := l.Get("new"); !ok {
		t.Error("the stale listing does not name the new file for readdir")
	}
	if _, ok := l.Get("gone"); ok {
		t.Error("the stale listing names the removed file for readdir")
	}
}
