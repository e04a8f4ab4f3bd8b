package contentcache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func open(t *testing.T, dir string, max int64) *Cache {
	t.Helper()
	c, err := Open(dir, "test@127.0.0.1:21/", max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func body(n int) []byte { return bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n] }

func mustWrite(t *testing.T, c *Cache, path string, v Version, p []byte, off int64) {
	t.Helper()
	if err := c.WriteAt(path, v, p, off); err != nil {
		t.Fatal(err)
	}
}

func TestSidecarDecode(t *testing.T) {
	key := keyOf("/pub/a")
	good := sidecar{Format: sidecarFormat, Path: "/pub/a", Size: 100, MTime: t0, Data: key + "-x1.data",
		Ranges: [][2]int64{{0, 10}, {20, 100}}, Used: t0}
	cases := []struct {
		name   string
		change func(*sidecar)
		key    string
		ok     bool
	}{
		{"good", func(*sidecar) {}, key, true},
		{"no ranges", func(s *sidecar) { s.Ranges = nil }, key, true},
		{"other format", func(s *sidecar) { s.Format = 2 }, key, false},
		{"path not its name", func(s *sidecar) { s.Path = "/pub/b" }, key, false},
		{"another key's data", func(s *sidecar) { s.Data = keyOf("/pub/b") + "-x1.data" }, key, false},
		{"data with a slash", func(s *sidecar) { s.Data = key + "-/../x.data" }, key, false},
		{"data not .data", func(s *sidecar) { s.Data = key + "-x1.meta" }, key, false},
		{"negative size", func(s *sidecar) { s.Size = -1; s.Ranges = nil }, key, false},
		{"range past the size", func(s *sidecar) { s.Ranges = [][2]int64{{0, 101}} }, key, false},
		{"empty range", func(s *sidecar) { s.Ranges = [][2]int64{{5, 5}} }, key, false},
		{"out of order", func(s *sidecar) { s.Ranges = [][2]int64{{20, 30}, {0, 10}} }, key, false},
		{"overlapping", func(s *sidecar) { s.Ranges = [][2]int64{{0, 20}, {10, 30}} }, key, false},
		{"touching", func(s *sidecar) { s.Ranges = [][2]int64{{0, 10}, {10, 30}} }, key, false},
	}
	for _, tc := range cases {
		s := good
		tc.change(&s)
		b, err := encodeSidecar(s)
		if err != nil {
			t.Fatal(err)
		}
		if s.Format != sidecarFormat { // encode sets the format; undo for the test
			b = bytes.Replace(b, []byte(`"format":1`), []byte(`"format":2`), 1)
		}
		got, set, err := decodeSidecar(b, tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if err == nil && (!reflect.DeepEqual(rangesOf(&set), s.Ranges) && len(s.Ranges) > 0 || !got.MTime.Equal(s.MTime) || got.Size != s.Size) {
			t.Errorf("%s: decoded %+v %v, want %+v", tc.name, got, set.Ranges(), s)
		}
	}
	if _, _, err := decodeSidecar([]byte("{not json"), key); err == nil {
		t.Error("a broken sidecar decoded")
	}
}

func TestReadWriteRanges(t *testing.T) {
	c := open(t, t.TempDir(), 1<<20)
	v := Version{Size: 100, ModTime: t0}
	b := body(100)
	buf := make([]byte, 30)
	if _, ok := c.ReadAt("/f", v, buf, 0); ok {
		t.Fatal("hit in an empty cache")
	}
	mustWrite(t, c, "/f", v, b[10:40], 10)
	mustWrite(t, c, "/f", v, b[60:100], 60)
	// Held in part: nothing is served, not even the ranges held (a read
	// must not join them with the server's bytes of another version).
	for _, off := range []int64{10, 15, 60, 0, 39} {
		if _, ok := c.ReadAt("/f", v, buf, off); ok {
			t.Errorf("ReadAt(%d) served a file held in part", off)
		}
	}
	if c.Has("/f", v) {
		t.Error("Has with a gap")
	}
	mustWrite(t, c, "/f", v, b[0:70], 0)
	if !c.Has("/f", v) {
		t.Error("not Has once whole")
	}
	cases := []struct {
		off  int64
		n    int
		want int
	}{
		{10, 30, 30},
		{15, 20, 20},
		{0, 20, 20},
		{39, 22, 22}, // across what was a gap
		{60, 40, 40}, // to the end
		{80, 40, 20}, // past the end: up to the size
		{100, 10, 0}, // at the end: nothing, held
		{150, 10, 0}, // past it
	}
	for _, tc := range cases {
		p := make([]byte, tc.n)
		got, ok := c.ReadAt("/f", v, p, tc.off)
		if !ok || got != tc.want {
			t.Errorf("ReadAt(%d, %d) = %d, %v; want %d, true", tc.off, tc.n, got, ok, tc.want)
			continue
		}
		if got > 0 && !bytes.Equal(p[:got], b[tc.off:tc.off+int64(got)]) {
			t.Errorf("ReadAt(%d, %d): wrong bytes", tc.off, tc.n)
		}
	}
	// Another version: nothing of the old one is served.
	v2 := Version{Size: 100, ModTime: t0.Add(time.Second)}
	if _, ok := c.ReadAt("/f", v2, buf, 0); ok || c.Has("/f", v2) {
		t.Error("served for another time")
	}
	if _, ok := c.ReadAt("/f", Version{Size: 101, ModTime: t0}, buf, 0); ok {
		t.Error("served for another size")
	}
	if _, ok := c.ReadAt("/f", Version{Size: 100, ModTime: t0, Unique: "fe00g99a5ed"}, buf, 0); ok {
		t.Error("served for another file (unique fact) of the same size and time")
	}
	b2 := bytes.ToUpper(b)
	mustWrite(t, c, "/f", v2, b2, 0)
	if _, ok := c.ReadAt("/f", v, buf, 0); ok {
		t.Error("the old version survived the new one")
	}
	if got, ok := c.ReadAt("/f", v2, buf, 0); !ok || !bytes.Equal(buf[:got], b2[:30]) {
		t.Errorf("new version: %q, %v", buf[:got], ok)
	}
	if s := c.Stats(); s.Files != 1 || s.Bytes != 100 {
		t.Errorf("stats %+v, want 1 file of 100 bytes", s)
	}
	// Bytes written past the listed size (the file grew) are not kept.
	mustWrite(t, c, "/g", Version{Size: 10, ModTime: t0}, body(20), 0)
	if s := c.Stats(); s.Bytes != 110 {
		t.Errorf("stats %+v after a write past the size, want 110 bytes", s)
	}
	if !c.Has("/empty", Version{Size: 0, ModTime: t0}) {
		t.Error("an empty file is not held")
	}
}

func TestEvictionLRU(t *testing.T) {
	c := open(t, t.TempDir(), 300)
	v := Version{Size: 100, ModTime: t0}
	for _, p := range []string{"/a", "/b", "/c"} {
		mustWrite(t, c, p, v, body(100), 0)
	}
	// /a used last: /b is the least recently used.
	if _, ok := c.ReadAt("/a", v, make([]byte, 10), 0); !ok {
		t.Fatal("miss on /a")
	}
	mustWrite(t, c, "/d", v, body(100), 0)
	for p, want := range map[string]bool{"/a": true, "/b": false, "/c": true, "/d": true} {
		if got := c.Has(p, v); got != want {
			t.Errorf("after evicting: Has(%s) = %v, want %v", p, got, want)
		}
	}
	if s := c.Stats(); s.Bytes != 300 || s.Files != 3 {
		t.Errorf("stats %+v", s)
	}
	// A file above half the budget is not kept at all.
	big := Version{Size: 151, ModTime: t0}
	mustWrite(t, c, "/big", big, body(151), 0)
	if c.Has("/big", big) || c.Stats().Files != 3 {
		t.Error("kept a file above half the budget")
	}
	// Data files of evicted entries are gone from the disk.
	if n := countSuffix(t, c.dir, dataSuffix); n != 3 {
		t.Errorf("%d data files on disk, want 3", n)
	}
}

func countSuffix(t *testing.T, dir, suffix string) int {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, de := range des {
		if strings.HasSuffix(de.Name(), suffix) {
			n++
		}
	}
	return n
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, "id", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	v := Version{Size: 64, ModTime: t0, Unique: "803g2a"} // the sidecar keeps the unique fact too
	b := body(64)
	mustWrite(t, c, "/keep", v, b, 0)
	mustWrite(t, c, "/part", v, b[:16], 16)
	mustWrite(t, c, "/gone", v, b, 0)
	c.Remove("/gone")
	mustWrite(t, c, "/d/x", v, b, 0)
	c.RemoveBelow("/d")
	// A second mount of the same identity is refused while this one runs,
	// after waiting lockWait for it to end.
	defer func(d time.Duration) { lockWait = d }(lockWait)
	lockWait = 200 * time.Millisecond
	if _, err := Open(dir, "id", 1<<20); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open: %v, want ErrBusy", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Leftovers of a crash: data without a sidecar, a temporary sidecar.
	orphan := filepath.Join(dir, keyOf("/orphan")+"-zz1"+dataSuffix)
	os.WriteFile(orphan, b, 0o600)
	os.WriteFile(filepath.Join(dir, keyOf("/t")+metaSuffix+tmpSuffix), []byte("{"), 0o600)
	// A sidecar whose data file is gone.
	k := keyOf("/nodata")
	writeSidecar(dir, k, sidecar{Path: "/nodata", Size: 64, MTime: t0, Data: k + "-q1" + dataSuffix, Ranges: [][2]int64{{0, 64}}})

	c2 := open(t, dir, 1<<20)
	p := make([]byte, 64)
	if n, ok := c2.ReadAt("/keep", v, p, 0); !ok || !bytes.Equal(p[:n], b) {
		t.Errorf("after reopening: /keep %v", ok)
	}
	if _, ok := c2.ReadAt("/part", v, p[:16], 16); ok {
		t.Error("after reopening: /part, held in part, served")
	}
	// Its range survived: the rest makes it whole.
	mustWrite(t, c2, "/part", v, b[:16], 0)
	mustWrite(t, c2, "/part", v, b[32:], 32)
	if n, ok := c2.ReadAt("/part", v, p, 0); !ok || !bytes.Equal(p[:n], b) {
		t.Errorf("after reopening and the rest written: /part %v", ok)
	}
	for _, gone := range []string{"/gone", "/d/x", "/nodata"} {
		if c2.Has(gone, v) {
			t.Errorf("after reopening: %s is there", gone)
		}
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("an orphan data file survived Open: %v", err)
	}
	if n := countSuffix(t, dir, tmpSuffix); n != 0 {
		t.Errorf("%d temporary files survived Open", n)
	}
	if s := c2.Stats(); s.Files != 2 || s.Bytes != 128 {
		t.Errorf("stats after reopening and /part made whole %+v, want 2 files, 128 bytes", s)
	}
}

// TestReopenSmallerBudget: the LRU order survives a remount, and a lower
// cache_max_size evicts the least recently used at Open.
func TestReopenSmallerBudget(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, "id", 1000)
	if err != nil {
		t.Fatal(err)
	}
	v := Version{Size: 100, ModTime: t0}
	for _, p := range []string{"/a", "/b", "/c"} {
		mustWrite(t, c, p, v, body(100), 0)
		time.Sleep(2 * time.Millisecond) // distinct use times (order, not timing, is checked)
	}
	c.ReadAt("/a", v, make([]byte, 1), 0)
	c.Close()
	c2 := open(t, dir, 200)
	for p, want := range map[string]bool{"/a": true, "/b": false, "/c": true} {
		if got := c2.Has(p, v); got != want {
			t.Errorf("Has(%s) = %v, want %v", p, got, want)
		}
	}
}

func TestHitCounts(t *testing.T) {
	c := open(t, t.TempDir(), 1<<20)
	v := Version{Size: 10, ModTime: t0}
	c.ReadAt("/f", v, make([]byte, 10), 0)
	mustWrite(t, c, "/f", v, body(10), 0)
	c.ReadAt("/f", v, make([]byte, 10), 0)
	c.ReadAt("/f", v, make([]byte, 4), 6)
	if s := c.Stats(); s.Hits != 2 || s.Misses != 1 || s.HitBytes != 14 {
		t.Errorf("stats %+v, want 2 hits, 1 miss, 14 bytes", s)
	}
}

// TestKeepsDiskReserve: bytes that would leave less than the reserve free
// on the cache's filesystem are not kept (the write buffers share it).
func TestKeepsDiskReserve(t *testing.T) {
	c := open(t, t.TempDir(), 1<<20)
	v := Version{Size: 64, ModTime: t0}
	c.statAt.Store(time.Now().Add(time.Hour).UnixNano()) // no statfs now
	c.free.Store(minReserve + 32)
	c.reserve.Store(minReserve)
	mustWrite(t, c, "/f", v, body(64), 0)
	if s := c.Stats(); s.Bytes != 0 {
		t.Errorf("kept %d bytes that would eat into the reserve", s.Bytes)
	}
	c.free.Store(minReserve + 1000)
	mustWrite(t, c, "/f", v, body(64), 0)
	if !c.Has("/f", v) {
		t.Error("not kept with room beyond the reserve")
	}
}

// TestOpenWaitsForLock: a mount made just after the unmount of the same
// identity, while the ending process still holds the lock, gets the cache
// once it is let go.
func TestOpenWaitsForLock(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, "id", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		c.Close()
	}()
	c2, err := Open(dir, "id", 1<<20)
	if err != nil {
		t.Fatalf("Open while the lock is let go within lockWait: %v", err)
	}
	c2.Close()
}
