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
