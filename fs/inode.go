package fs

import (
	"hash/fnv"
	"sync"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// inodeTable gives each path a stable inode number: a hash of the path
// relative to the mount root, so the same file has the same number in every
// lookup and every mount. go-fuse merges nodes that share a number, so a
// hash already taken by a live node elsewhere (the node was renamed away, or
// two paths collide) must not be reused: such a path gets a number from
// go-fuse's automatic range, which starts at 2^63 where hashes never reach.
type inodeTable struct {
	mu   sync.Mutex
	live map[uint64]*fusefs.Inode // guarded by mu; hashed numbers in use
}

func newInodeTable() *inodeTable {
	return &inodeTable{live: map[uint64]*fusefs.Inode{}}
}

// hashIno returns the hashed number of a path relative to the root: never
// 0, never 1 (the root), always below 2^63.
func hashIno(rel string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(rel))
	ino := h.Sum64() &^ (1 << 63)
	if ino < 2 {
		ino += 2
	}
	return ino
}

// number returns the inode number for a new node at rel of the given file
// type, or 0 to let go-fuse pick one. root is the mount's root inode.
func (t *inodeTable) number(root *fusefs.Inode, rel string, mode uint32) uint64 {
	ino := hashIno(rel)
	t.mu.Lock()
	other := t.live[ino]
	t.mu.Unlock()
	if other == nil {
		return ino
	}
	if other.StableAttr().Mode == mode && other.Path(root) == rel {
		return ino // the same node: go-fuse will reuse it
	}
	return 0
}

// add records a node created with a hashed number.
func (t *inodeTable) add(n *fusefs.Inode) {
	ino := n.StableAttr().Ino
	if ino >= 1<<63 {
		return
	}
	t.mu.Lock()
	if t.live[ino] == nil {
		t.live[ino] = n
	}
	t.mu.Unlock()
}

// forget drops a node the kernel no longer knows.
func (t *inodeTable) forget(n *fusefs.Inode) {
	ino := n.StableAttr().Ino
	t.mu.Lock()
	if t.live[ino] == n {
		delete(t.live, ino)
	}
	t.mu.Unlock()
}
