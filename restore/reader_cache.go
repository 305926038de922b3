package restore

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// block is one decoded block, shared by the caches that keep it and the
// reads that use it. refs counts those holders; the last to release it
// gives its memory to the free list for the next fetch, so a Reader copying
// a whole filesystem allocates its blocks once instead of once per fetch.
// A block whose count reached zero is never held again (a fetch makes a new
// block around the recycled memory).
type block struct {
	data []byte
	refs atomic.Int32
	free *freeBlocks
}

// hold takes a reference to a block that may have been released meanwhile;
// false means it was, and its memory may already be another block's.
func (b *block) hold() bool {
	for {
		n := b.refs.Load()
		if n <= 0 {
			return false
		}
		if b.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops one reference.
func (b *block) release() {
	switch n := b.refs.Add(-1); {
	case n == 0:
		b.free.put(b.data)
	case n < 0:
		panic("restore: block released more often than held")
	}
}

// freeBlocks is a bounded list of block memory to reuse.
type freeBlocks struct {
	size      int64
	list      chan []byte
	allocated atomic.Int64 // blocks of new memory, for tests
}

func newFreeBlocks(size int64, n int) *freeBlocks {
	return &freeBlocks{size: size, list: make(chan []byte, n)}
}

// get returns a block held once by the caller, in reused memory when any.
func (f *freeBlocks) get() *block {
	b := &block{free: f}
	select {
	case b.data = <-f.list:
	default:
		b.data = make([]byte, f.size)
		f.allocated.Add(1)
	}
	b.refs.Store(1)
	return b
}

func (f *freeBlocks) put(data []byte) {
	select {
	case f.list <- data:
	default: // full: the collector takes it
	}
}

// blockCache is a least-recently-used set of decoded blocks keyed by
// checksum (one entry serves every offset that lists the same object),
// holding at most max blocks and one reference to each.
type blockCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recent first
	items map[string]*list.Element
}

type cacheEntry struct {
	checksum string
	b        *block
}

func newBlockCache(maxBlocks int) *blockCache {
	return &blockCache{max: maxBlocks, order: list.New(), items: map[string]*list.Element{}}
}

// get returns a cached block, held for the caller, who releases it.
func (c *blockCache) get(checksum string) (*block, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[checksum]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	b := e.Value.(*cacheEntry).b
	b.refs.Add(1) // the cache's reference keeps it alive meanwhile
	return b, true
}

// has reports whether checksum is cached, without making it recent.
func (c *blockCache) has(checksum string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[checksum]
	return ok
}

// add caches a block the caller holds, taking a reference of its own, and
// releases the least recently used beyond max. A block of a checksum
// already cached is not added.
func (c *blockCache) add(checksum string, b *block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[checksum]; ok {
		c.order.MoveToFront(e)
		return
	}
	b.refs.Add(1)
	c.items[checksum] = c.order.PushFront(&cacheEntry{checksum: checksum, b: b})
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(*cacheEntry)
		delete(c.items, old.checksum)
		old.b.release()
	}
}

// remove takes a block out of the cache; the cache's reference passes to
// the caller.
func (c *blockCache) remove(checksum string) (*block, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[checksum]
	if !ok {
		return nil, false
	}
	c.order.Remove(e)
	delete(c.items, checksum)
	return e.Value.(*cacheEntry).b, true
}

// len is the number of blocks cached; 0 for a nil cache (a reader without
// readahead has no blocks fetched ahead).
func (c *blockCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
