package cache

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestBufferMatchesShadow applies random writes and truncates to a buffer
// with a small memory limit and to a byte slice, comparing after each.
func TestBufferMatchesShadow(t *testing.T) {
	dir := t.TempDir()
	b := NewBuffer(dir, 4096, "/d/f")
	defer b.Close()
	var shadow []byte
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 500; i++ {
		if rng.IntN(8) == 0 {
			n := int64(rng.IntN(20000))
			if err := b.Truncate(n); err != nil {
				t.Fatal(err)
			}
			if n <= int64(len(shadow)) {
				shadow = shadow[:n]
			} else {
				shadow = append(shadow, make([]byte, n-int64(len(shadow)))...)
			}
		} else {
			off := int64(rng.IntN(16000))
			p := make([]byte, rng.IntN(3000))
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			if _, err := b.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
			if end := off + int64(len(p)); end > int64(len(shadow)) {
				shadow = append(shadow, make([]byte, end-int64(len(shadow)))...)
			}
			copy(shadow[off:], p)
		}
		got := make([]byte, len(shadow)+10)
		n, err := b.ReadAt(got, 0)
		if !errors.Is(err, io.EOF) || n != len(shadow) || !bytes.Equal(got[:n], shadow) || b.Size() != int64(len(shadow)) {
			t.Fatalf("step %d: buffer (%d bytes, %v) differs from shadow (%d bytes)", i, n, err, len(shadow))
		}
	}
	if b.f == nil {
		t.Error("buffer never spilled to disk")
	}
}

func TestBufferCloseRemovesSpill(t *testing.T) {
	dir := t.TempDir()
	b := NewBuffer(dir, 10, "/d/f")
	if _, err := b.WriteAt(make([]byte, 100), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spill file left behind: %v", ents)
	}
}

func TestBufferKeep(t *testing.T) {
	for _, limit := range []int{10, 1 << 20} {
		dir := t.TempDir()
		b := NewBuffer(dir, limit, "/d/f")
		if _, err := b.WriteAt([]byte("precious data"), 0); err != nil {
			t.Fatal(err)
		}
		path, err := b.Keep("/a/b.txt")
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != "precious data" || filepath.Dir(path) != filepath.Join(dir, "unsaved") {
			t.Errorf("kept %s: %q, %v", path, got, err)
		}
	}
}

// Where unsaved/ cannot be made (here a file is in its way; as root a
// read-only directory would not stop anything), the bytes stay in the
// cache directory, in memory or spilled, and are never dropped.
func TestBufferKeepWithoutUnsavedDir(t *testing.T) {
	for _, limit := range []int{10, 1 << 20} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "unsaved"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		b := NewBuffer(dir, limit, "/d/f")
		if _, err := b.WriteAt([]byte("precious data"), 0); err != nil {
			t.Fatal(err)
		}
		path, err := b.Keep("/a/b.txt")
		if err == nil {
			t.Errorf("limit %d: no error though unsaved/ cannot be made", limit)
		}
		got, rerr := os.ReadFile(path)
		if rerr != nil || string(got) != "precious data" || filepath.Dir(path) != dir {
			t.Errorf("limit %d: kept at %q: %q, %v", limit, path, got, rerr)
		}
	}
}

// A spill file nobody holds was left by a killed process: the sweep keeps
// it under unsaved/, named after its server path; a live one stays.
func TestSweepOrphans(t *testing.T) {
	dir := t.TempDir()
	live := NewBuffer(dir, 4, "/live")
	defer live.Close()
	if _, err := live.WriteAt([]byte("still written"), 0); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(dir, spillPrefix+"srv%dir%f.txt.123456")
	if err := os.WriteFile(orphan, []byte("left by kill -9"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := SweepOrphans(dir)
	if err != nil || len(got) != 1 || got[0].Size != 15 {
		t.Fatalf("SweepOrphans = %+v, %v", got, err)
	}
	if b, err := os.ReadFile(got[0].Path); err != nil || string(b) != "left by kill -9" ||
		filepath.Dir(got[0].Path) != UnsavedDir(dir) || !bytes.HasSuffix([]byte(got[0].Path), []byte("-srv%dir%f.txt")) {
		t.Errorf("kept %s: %q, %v", got[0].Path, b, err)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan still in the cache dir: %v", err)
	}
	if b := make([]byte, 13); true {
		if _, err := live.ReadAt(b, 0); err != nil && err != io.EOF || string(b) != "still written" {
			t.Errorf("live buffer disturbed: %q, %v", b, err)
		}
	}
}
