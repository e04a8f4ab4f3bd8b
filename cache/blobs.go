package cache

import (
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Version identifies one state of a file as a listing shows it. A blob
// is served only while the file's listed version is the one it was read
// at.
type Version struct {
	Size    int64
	ModTime time.Time
}

// Blobs keeps whole small files, read ahead of a process that reads the
// files of a directory one after another, within a byte budget. Eviction
// is in the order the blobs were put, not the order they were used: such
// a process reads each file once, so a blob that was read is the one least
// likely to be read again, and the blobs still ahead of it must stay.
type Blobs struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[string, blob] // guarded by mu
	bytes int64                        // guarded by mu
	max   int64
}

type blob struct {
	data []byte
	v    Version
}

// NewBlobs returns a cache holding at most maxBytes of file contents.
func NewBlobs(maxBytes int64) *Blobs {
	b := &Blobs{max: maxBytes}
	// The budget in bytes is what bounds the cache; the count limit only
	// has to be out of its way.
	b.lru, _ = simplelru.NewLRU[string, blob](1<<20, func(_ string, v blob) {
		b.bytes -= int64(len(v.data))
	})
	return b
}

// Get returns the contents of path if they were read at version v.
func (b *Blobs) Get(path string, v Version) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.lru.Peek(path)
	if !ok || !sameVersion(e.v, v) {
		return nil, false
	}
	return e.data, true
}

// Put records data as the contents of path at version v. A blob larger
// than the budget is not kept.
func (b *Blobs) Put(path string, data []byte, v Version) {
	if int64(len(data)) > b.max {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lru.Remove(path)
	b.lru.Add(path, blob{data: data, v: v})
	b.bytes += int64(len(data))
	for b.bytes > b.max {
		b.lru.RemoveOldest()
	}
}

// Remove forgets path.
func (b *Blobs) Remove(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lru.Remove(path)
}

// RemoveBelow forgets every path below dir.
func (b *Blobs) RemoveBelow(dir string) {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range b.lru.Keys() {
		if strings.HasPrefix(k, prefix) {
			b.lru.Remove(k)
		}
	}
}

// Bytes returns how many bytes the cache holds.
func (b *Blobs) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes
}

func sameVersion(a, b Version) bool {
	return a.Size == b.Size && a.ModTime.Equal(b.ModTime)
}
