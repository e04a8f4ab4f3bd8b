package contentcache

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpfs/ftpfs/internal/ranges"
)

// Version identifies one state of a remote file as its listing shows it:
// bytes are served only for the version they were read at.
type Version struct {
	Size    int64
	ModTime time.Time
	// Unique is the listing's identity of the file where it gives one
	// (MLSD's unique fact: device and inode on pure-ftpd and proftpd), so
	// that a file renamed over another, or two files swapped, with the
	// same size and time, are told apart; empty where it gives none.
	Unique string
}

func (v Version) same(w Version) bool {
	return v.Size == w.Size && v.ModTime.Equal(w.ModTime) && v.Unique == w.Unique
}

// ErrBusy is returned by Open while another process (another mount of the
// same server, user and directory) holds the cache directory.
var ErrBusy = errors.New("content cache in use by another ftpfs mount")

// Stats is a snapshot of a cache, for ftpfs status.
type Stats struct {
	Dir   string
	Files int   // files with bytes held
	Bytes int64 // bytes held (the ranges, not the files' sizes)
	Max   int64 // the budget, cache_max_size
	// Hits counts reads served from the cache, Misses reads of cacheable
	// files that went to the server; HitBytes the bytes served.
	Hits, Misses, HitBytes int64
}

// flushEvery is how often the sidecars of changed files are written; a
// clean unmount writes them too. flushAfter dirty files start a flush
// sooner.
const (
	flushEvery = 10 * time.Second
	flushAfter = 256
)

// Cache is the content cache of one mount. Its methods are safe for
// concurrent use; disk I/O runs outside its mutex.
type Cache struct {
	dir  string
	max  int64
	lock *os.File
	// gen makes data file names unique to this process: base plus a
	// counter.
	genBase string
	gen     atomic.Uint64

	mu      sync.Mutex
	entries map[string]*entry // guarded by mu; by server path
	lru     *list.List        // guarded by mu; of *entry, most recently used first
	bytes   int64             // guarded by mu
	dirty   int               // guarded by mu; entries whose sidecar is behind

	hits, misses, hitBytes atomic.Int64

	// What the filesystem under dir has free (statfs, at most once a
	// second, less what was written since) and must keep free (see
	// roomOnDisk); statAt is when it was last asked, in Unix nanoseconds.
	free, reserve, statAt atomic.Int64

	flushMu sync.Mutex // serialises flushes
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
}

// entry is one remote file's cached bytes. Its fields are guarded by
// Cache.mu.
type entry struct {
	path, key string
	data      string // base name of the data file
	v         Version
	have      ranges.Set
	used      time.Time
	elem      *list.Element
	dirty     bool // the sidecar does not say what have and used say
}

// Dir returns the directory of the cache of one mount identity (server,
// port, user, remote root) under cacheDir: mounts of different
// identities never share one.
func Dir(cacheDir, identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return filepath.Join(cacheDir, "content", hex.EncodeToString(sum[:8]))
}

// Open opens (creating it) the cache in dir, holding at most maxBytes of
// file contents, and locks it: ErrBusy while another process holds it.
// It rebuilds the index from the sidecars, removing what no valid sidecar
// describes, and evicts beyond maxBytes. identity is written to the
// directory for people who look in it.
func Open(dir, identity string, maxBytes int64) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("content cache: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("content cache: %w", err)
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrBusy)
		}
		return nil, fmt.Errorf("content cache: lock %s: %w", dir, err)
	}
	_ = os.WriteFile(filepath.Join(dir, "identity"), []byte(identity+"\n"), 0o600)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	c := &Cache{dir: dir, max: maxBytes, lock: lf, genBase: hex.EncodeToString(rnd[:]),
		entries: map[string]*entry{}, lru: list.New(),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if err := c.load(); err != nil {
		lf.Close()
		return nil, err
	}
	c.mu.Lock()
	victims := c.evictLocked(nil)
	c.mu.Unlock()
	c.removeFiles(victims)
	go c.flusher()
	return c, nil
}

// load rebuilds the index from the sidecars in the directory.
func (c *Cache) load() error {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("content cache: %w", err)
	}
	var found []*entry
	referenced := map[string]bool{}
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			os.Remove(filepath.Join(c.dir, name))
			continue
		}
		key, ok := strings.CutSuffix(name, metaSuffix)
		if !ok {
			continue
		}
		e, err := c.loadOne(key)
		if err != nil {
			os.Remove(filepath.Join(c.dir, name)) // its data, unnamed now, goes below
			continue
		}
		referenced[e.data] = true
		found = append(found, e)
	}
	for _, de := range des {
		if name := de.Name(); strings.HasSuffix(name, dataSuffix) && !referenced[name] {
			os.Remove(filepath.Join(c.dir, name))
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].used.Before(found[j].used) })
	for _, e := range found {
		e.elem = c.lru.PushFront(e)
		c.entries[e.path] = e
		c.bytes += e.have.Bytes()
	}
	return nil
}

// loadOne reads the sidecar key.meta and checks that its data file is
// there and long enough for the ranges it claims.
func (c *Cache) loadOne(key string) (*entry, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, key+metaSuffix))
	if err != nil {
		return nil, err
	}
	s, set, err := decodeSidecar(b, key)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(filepath.Join(c.dir, s.Data))
	if err != nil {
		return nil, err
	}
	if rs := set.Ranges(); len(rs) > 0 && fi.Size() < rs[len(rs)-1].End {
		return nil, fmt.Errorf("data file %s shorter than its ranges", s.Data)
	}
	return &entry{path: s.Path, key: key, data: s.Data, v: Version{Size: s.Size, ModTime: s.MTime, Unique: s.Unique}, have: set, used: s.Used}, nil
}

// lockWait is how long Open waits for the lock: umount returns before the
// ftpfs it ends has written the cache's sidecars and exited, and a mount
// made right after must not run without its cache. A variable for tests.
var lockWait = 3 * time.Second

// lockFile takes an exclusive flock on f, waiting up to lockWait while
// another process holds it (EWOULDBLOCK after that).
func lockFile(f *os.File) error {
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Cacheable reports whether a file of size bytes may be kept: files above
// half the budget are not, so that one file never empties the cache.
func (c *Cache) Cacheable(size int64) bool { return size <= c.max/2 }

// ReadAt fills p from off with the bytes of path at version v, and
// reports whether it could: the cache holds every byte of the version, not
// only those of [off, off+len(p)). A file held in part is read from the
// server: a read that took some ranges from here and the rest from the
// server would join two versions where the file changed on the server
// since its listing (within revalidate_timeout). Past the size it returns
// 0, true. Every call counts as a hit or a miss.
func (c *Cache) ReadAt(path string, v Version, p []byte, off int64) (int, bool) {
	end := min(off+int64(len(p)), v.Size)
	c.mu.Lock()
	e := c.entries[path]
	if e == nil || !e.v.same(v) || !e.have.Covers(0, v.Size) {
		c.mu.Unlock()
		c.misses.Add(1)
		return 0, false
	}
	c.touchLocked(e)
	data := e.data
	c.mu.Unlock()
	if off >= end {
		c.hits.Add(1)
		return 0, true
	}
	n, err := readData(filepath.Join(c.dir, data), p[:end-off], off)
	if err != nil {
		// Evicted or replaced meanwhile, or changed under us: the server
		// has it.
		c.misses.Add(1)
		return 0, false
	}
	c.hits.Add(1)
	c.hitBytes.Add(int64(n))
	return n, true
}

func readData(name string, p []byte, off int64) (int, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := f.ReadAt(p, off)
	if n < len(p) {
		return n, fmt.Errorf("content cache: short read of %s: %w", name, err)
	}
	return n, nil
}

// Has reports whether the cache holds all of path at version v; an empty
// file it always holds.
func (c *Cache) Has(path string, v Version) bool {
	if v.Size == 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[path]
	return e != nil && e.v.same(v) && e.have.Covers(0, v.Size)
}

// WriteAt records p as the bytes of path at version v from off, as read
// from the server. Bytes past the version's size are not kept, nor files
// too large (Cacheable). Bytes of another version replace what was held.
// Writing over the budget evicts the least recently used files.
func (c *Cache) WriteAt(path string, v Version, p []byte, off int64) error {
	if off < 0 || off >= v.Size || !c.Cacheable(v.Size) || c.closed.Load() {
		return nil
	}
	p = p[:min(int64(len(p)), v.Size-off)]
	if !c.roomOnDisk(int64(len(p))) {
		return nil
	}
	end := off + int64(len(p))
	c.mu.Lock()
	e := c.entries[path]
	var stale []*entry
	if e != nil && !e.v.same(v) {
		c.dropLocked(e)
		stale = append(stale, e)
		e = nil
	}
	if e == nil {
		key := keyOf(path)
		e = &entry{path: path, key: key, v: v,
			data: key + "-" + c.genBase + strconv.FormatUint(c.gen.Add(1), 36) + dataSuffix}
		e.elem = c.lru.PushFront(e)
		c.entries[path] = e
	}
	data := e.data
	c.mu.Unlock()
	// The old version's data only: its sidecar names that data, so a
	// crash before the new sidecar is written leaves nothing to serve.
	for _, s := range stale {
		os.Remove(filepath.Join(c.dir, s.data))
	}

	err := writeData(filepath.Join(c.dir, data), p, off)

	c.mu.Lock()
	if c.entries[path] != e {
		// Evicted, removed or replaced while we wrote: the data file may
		// have been made again by this write.
		c.mu.Unlock()
		os.Remove(filepath.Join(c.dir, data))
		return err
	}
	if err != nil {
		c.dropLocked(e)
		c.mu.Unlock()
		c.removeFiles([]*entry{e})
		return err
	}
	before := e.have.Bytes()
	e.have.Add(off, end)
	c.bytes += e.have.Bytes() - before
	c.touchLocked(e)
	victims := c.evictLocked(e)
	kick := c.dirty >= flushAfter
	c.mu.Unlock()
	c.removeFiles(victims)
	if kick {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// minReserve and reserveShare say what the content cache leaves free on
// the filesystem it is on: the larger of 256 MiB and a tenth of it. The
// write buffers of files being written, the copies kept of failed uploads
// and the writeback journal share cache_dir's filesystem, and a write to
// the mount must not fail with ENOSPC because files read filled it;
// cache_max_size bounds the cache, this bounds it by what the disk holds.
const (
	minReserve   = 256 << 20
	reserveShare = 10
)

// roomOnDisk reports whether n more bytes leave the reserve free.
func (c *Cache) roomOnDisk(n int64) bool {
	now := time.Now().UnixNano()
	if last := c.statAt.Load(); now-last > int64(time.Second) && c.statAt.CompareAndSwap(last, now) {
		var st unix.Statfs_t
		if err := unix.Statfs(c.dir, &st); err == nil {
			total := int64(st.Blocks) * st.Bsize
			c.free.Store(int64(st.Bavail) * st.Bsize)
			c.reserve.Store(max(minReserve, total/reserveShare))
		}
	}
	return c.free.Add(-n) >= c.reserve.Load()
}

func writeData(name string, p []byte, off int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("content cache: %w", err)
	}
	_, err = f.WriteAt(p, off)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("content cache: %w", err)
	}
	return nil
}

// touchLocked makes e the most recently used, and its sidecar due.
func (c *Cache) touchLocked(e *entry) {
	e.used = time.Now()
	c.lru.MoveToFront(e.elem)
	if !e.dirty {
		e.dirty = true
		c.dirty++
	}
}

// dropLocked takes e out of the index; the caller removes its files.
func (c *Cache) dropLocked(e *entry) {
	delete(c.entries, e.path)
	c.lru.Remove(e.elem)
	c.bytes -= e.have.Bytes()
	if e.dirty {
		e.dirty = false
		c.dirty--
	}
}

// evictLocked drops the least recently used entries, never keep, until
// the cache fits its budget; the caller removes their files.
func (c *Cache) evictLocked(keep *entry) []*entry {
	var out []*entry
	for el := c.lru.Back(); el != nil && c.bytes > c.max; {
		e := el.Value.(*entry)
		el = el.Prev()
		if e == keep {
			continue
		}
		c.dropLocked(e)
		out = append(out, e)
	}
	return out
}

// removeFiles deletes the sidecars and data files of entries dropped from
// the index, sidecar first: a crash between the two leaves data that the
// next Open removes.
func (c *Cache) removeFiles(es []*entry) {
	for _, e := range es {
		os.Remove(filepath.Join(c.dir, e.key+metaSuffix))
		os.Remove(filepath.Join(c.dir, e.data))
	}
}

// Remove forgets path: ftpfs changed or removed it.
func (c *Cache) Remove(path string) {
	c.mu.Lock()
	e := c.entries[path]
	if e != nil {
		c.dropLocked(e)
	}
	c.mu.Unlock()
	if e != nil {
		c.removeFiles([]*entry{e})
	}
}

// RemoveBelow forgets every path below dir: ftpfs renamed or removed it.
func (c *Cache) RemoveBelow(dir string) {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	c.mu.Lock()
	var out []*entry
	for p, e := range c.entries {
		if strings.HasPrefix(p, prefix) {
			c.dropLocked(e)
			out = append(out, e)
		}
	}
	c.mu.Unlock()
	c.removeFiles(out)
}

// Stats returns a snapshot of the cache.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Dir: c.dir, Files: len(c.entries), Bytes: c.bytes, Max: c.max,
		Hits: c.hits.Load(), Misses: c.misses.Load(), HitBytes: c.hitBytes.Load()}
}

// Flush writes the sidecars of the files whose cached ranges or use
// changed, after syncing the data they describe to disk.
func (c *Cache) Flush() error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	var due []sidecar
	var keys []string
	for _, e := range c.entries {
		if !e.dirty {
			continue
		}
		e.dirty = false
		due = append(due, sidecar{Path: e.path, Size: e.v.Size, MTime: e.v.ModTime.UTC(), Unique: e.v.Unique, Data: e.data,
			Ranges: rangesOf(&e.have), Used: e.used.UTC()})
		keys = append(keys, e.key)
	}
	c.dirty = 0
	c.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	// One sync of the filesystem: the data before the sidecars that claim
	// it.
	if err := unix.Syncfs(int(c.lock.Fd())); err != nil {
		return fmt.Errorf("content cache: syncfs: %w", err)
	}
	var first error
	for i, s := range due {
		if err := writeSidecar(c.dir, keys[i], s); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// flusher writes sidecars every flushEvery, or sooner when kicked, until
// Close.
func (c *Cache) flusher() {
	defer close(c.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.kick:
		}
		_ = c.Flush() // a sidecar not written only loses what it would describe
	}
}

// Close stops the flusher, writes the sidecars due and unlocks the
// directory. The cache must not be used after.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	close(c.stop)
	<-c.done
	err := c.Flush()
	if cerr := c.lock.Close(); err == nil { // closing drops the flock
		err = cerr
	}
	return err
}
