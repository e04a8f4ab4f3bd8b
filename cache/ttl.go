package cache

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// ttlLRU is a size-bounded LRU whose items expire ttl after they were
// added, by the clock it is given: Meta's tests move that clock instead of
// sleeping. Expired items are dropped when met. It is safe for concurrent
// use (golang-lru's Cache is), and unlike golang-lru's expirable cache it
// starts no goroutine that outlives it.
type ttlLRU[K comparable, V any] struct {
	c   *lru.Cache[K, ttlItem[V]]
	ttl time.Duration
	now func() time.Time
}

type ttlItem[V any] struct {
	v     V
	added time.Time
}

func newTTLLRU[K comparable, V any](size int, ttl time.Duration, now func() time.Time) *ttlLRU[K, V] {
	c, err := lru.New[K, ttlItem[V]](size)
	if err != nil {
		panic(err) // only for a size below 1, which callers never pass
	}
	return &ttlLRU[K, V]{c: c, ttl: ttl, now: now}
}

// Get returns the live item of k, marking it recently used.
func (t *ttlLRU[K, V]) Get(k K) (V, bool) {
	return t.live(k, t.c.Get)
}

// Peek returns the live item of k, leaving its place as it is.
func (t *ttlLRU[K, V]) Peek(k K) (V, bool) {
	return t.live(k, t.c.Peek)
}

func (t *ttlLRU[K, V]) live(k K, get func(K) (ttlItem[V], bool)) (V, bool) {
	it, ok := get(k)
	if ok && t.now().Sub(it.added) >= t.ttl {
		t.c.Remove(k)
		ok = false
	}
	if !ok {
		var zero V
		return zero, false
	}
	return it.v, true
}

// Add adds or replaces the item of k; its time to live starts now.
func (t *ttlLRU[K, V]) Add(k K, v V) { t.c.Add(k, ttlItem[V]{v: v, added: t.now()}) }

// Remove drops the item of k.
func (t *ttlLRU[K, V]) Remove(k K) { t.c.Remove(k) }

// Keys returns the keys held, expired ones included.
func (t *ttlLRU[K, V]) Keys() []K { return t.c.Keys() }

// Len returns how many items are held, expired ones included.
func (t *ttlLRU[K, V]) Len() int { return t.c.Len() }
