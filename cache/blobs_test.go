package cache

import (
	"testing"
	"time"
)

func TestBlobsVersion(t *testing.T) {
	b := NewBlobs(1 << 10)
	t0 := time.Unix(1700000000, 0)
	b.Put("/d/a", []byte("hello"), Version{5, t0})
	if got, ok := b.Get("/d/a", Version{5, t0}); !ok || string(got) != "hello" {
		t.Fatalf("Get same version = %q, %v", got, ok)
	}
	for _, v := range []Version{{6, t0}, {5, t0.Add(time.Second)}} {
		if _, ok := b.Get("/d/a", v); ok {
			t.Errorf("Get at version %+v: served a blob read at another version", v)
		}
	}
	b.RemoveBelow("/d")
	if _, ok := b.Get("/d/a", Version{5, t0}); ok || b.Bytes() != 0 {
		t.Errorf("after RemoveBelow: still held (%d bytes)", b.Bytes())
	}
}

func TestBlobsBudgetEvictsInPutOrder(t *testing.T) {
	b := NewBlobs(300)
	v := Version{100, time.Unix(1, 0)}
	data := make([]byte, 100)
	for _, p := range []string{"/a", "/b", "/c"} {
		b.Put(p, data, v)
	}
	b.Get("/a", v) // a read must not protect /a: it was put first
	b.Put("/d", data, v)
	if _, ok := b.Get("/a", v); ok {
		t.Error("/a kept; want it evicted as the oldest put")
	}
	for _, p := range []string{"/b", "/c", "/d"} {
		if _, ok := b.Get(p, v); !ok {
			t.Errorf("%s evicted", p)
		}
	}
	if b.Bytes() != 300 {
		t.Errorf("Bytes = %d, want 300", b.Bytes())
	}
	b.Put("/big", make([]byte, 301), v)
	if _, ok := b.Get("/big", v); ok || b.Bytes() != 300 {
		t.Errorf("a blob over the budget was kept (%d bytes)", b.Bytes())
	}
}
