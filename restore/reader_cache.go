package restore

import (
	"container/list"
	"sync"
)

// blockCache is a least-recently-used set of decoded blocks keyed by
// checksum (one entry serves every offset that lists the same object),
// holding at most max blocks.
type blockCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recent first
	items map[string]*list.Element
}

type cacheEntry struct {
	checksum string
	data     []byte
}

func newBlockCache(maxBlocks int) *blockCache {
	return &blockCache{max: maxBlocks, order: list.New(), items: map[string]*list.Element{}}
}

func (c *blockCache) get(checksum string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[checksum]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).data, true
}

// has reports whether checksum is cached, without making it recent.
func (c *blockCache) has(checksum string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[checksum]
	return ok
}

// add inserts a block and evicts the least recently used beyond max.
func (c *blockCache) add(checksum string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[checksum]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[checksum] = c.order.PushFront(&cacheEntry{checksum: checksum, data: data})
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(*cacheEntry)
		delete(c.items, old.checksum)
	}
}

// remove takes a block out of the cache.
func (c *blockCache) remove(checksum string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[checksum]
	if !ok {
		return nil, false
	}
	c.order.Remove(e)
	delete(c.items, checksum)
	return e.Value.(*cacheEntry).data, true
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
