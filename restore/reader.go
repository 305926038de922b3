package restore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/restore/internal/batchsha"
)

// DefaultCacheBytes is ReaderOptions.CacheBytes when unset.
const DefaultCacheBytes = 64 << 20

// ErrNegativeOffset is returned by Reader.ReadAt for an offset below zero.
var ErrNegativeOffset = errors.New("negative offset")

// ReaderOptions configure OpenReader.
type ReaderOptions struct {
	// CacheBytes bounds the decoded blocks kept for later reads (an LRU);
	// default DefaultCacheBytes (64 MiB). At least one block is kept whatever
	// the value, so the bound is max(CacheBytes, block size).
	CacheBytes int64
	// Concurrency bounds the block objects fetched at once (by one large read
	// or by concurrent readers); default as Options.Concurrency.
	Concurrency int
	// Sequential is for a reader read mostly from the front to the back (a
	// whole-filesystem extraction): after each block read, the next
	// Concurrency listed blocks are fetched and verified in the background,
	// so the checksums of a single-threaded reader's blocks use every core.
	// Off, a reader fetches only what is read (files cat, nbd). Blocks
	// fetched ahead wait apart from the cache until they are read, so they
	// never push out blocks read before (a filesystem's metadata).
	Sequential bool
	// BatchChecksums, with Sequential, fetches enough blocks ahead for their
	// checksums to be hashed together (as Options.BatchChecksums: 16 at once
	// for 2 MiB blocks where the CPU and build batch, else no change). It
	// costs memory beyond CacheBytes: see OpenReader.
	BatchChecksums bool
}

// Validate reports options no reader can use.
func (o ReaderOptions) Validate() error {
	if o.CacheBytes < 0 {
		return fmt.Errorf("cache size %d bytes; expected 0 (default %d MiB) or a positive number of bytes", o.CacheBytes, DefaultCacheBytes>>20)
	}
	if o.Concurrency < 0 {
		return fmt.Errorf("concurrency %d; expected 0 (default) or a positive number of block fetches", o.Concurrency)
	}
	return nil
}

// ReaderStats count what a Reader did, for tests and benchmarks.
type ReaderStats struct {
	Objects      int64 // block objects fetched, decompressed and verified
	FetchedBytes int64 // stored (compressed) bytes of those objects
	Hits         int64 // block reads served from the cache
	Shared       int64 // block reads that waited for another reader's fetch of the same object
	Waiting      int64 // block reads waiting for a fetch right now
	CachedBytes  int64 // decoded bytes in the cache and fetched ahead now
}

// Reader is a random-access, read-only view of a backup's volume image. It
// fetches only the block objects covering the bytes asked for, verifies them
// as Restore does, and reads unlisted blocks as zeros. It is safe for
// concurrent use and holds no open resources: there is nothing to close.
type Reader struct {
	ctx    context.Context
	st     *backupstore.Store
	handle string
	b      *backupstore.Backup
	size   int64
	pool   bufPool
	free   *freeBlocks // the memory of released blocks
	cache  *blockCache
	flight singleflight.Group
	// ahead is how many listed blocks after each one read are fetched in the
	// background (ReaderOptions.Sequential); pending holds their checksums
	// while they are fetched, so each is asked for once, and early the
	// fetched ones until they are read (then they move to cache).
	ahead   int
	mu      sync.Mutex
	pending map[string]chan struct{} // closed when the fetch ahead ends
	early   *blockCache
	// together is the fewest blocks ahead started at once: a batch of
	// checksums with BatchChecksums, else one.
	together int
	// batch is the most blocks one readahead starts: with BatchChecksums
	// firstBatch at first, doubled by each readahead up to ahead, so that a
	// reader's first reads (a filesystem's superblock, group descriptors and
	// first inodes) wait for a few blocks to be fetched and hashed, not for
	// a whole batch of them; else ahead.
	batch int

	objects, fetched, hits, shared, waiting atomic.Int64
}

var _ io.ReaderAt = (*Reader)(nil)

// OpenReader resolves a completed backup with the checks Restore makes (in
// progress, fits the volume, names) and returns a reader of the volume's
// logical size. ctx is kept for every store read the Reader makes (ReadAt
// has no context of its own): cancelling it fails reads in flight and later.
func OpenReader(ctx context.Context, st *backupstore.Store, volume, backup string, o ReaderOptions) (*Reader, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	r, err := Resolve(ctx, st, Reference{Volume: volume, Backup: backup})
	if err != nil {
		return nil, err
	}
	// The reader has no base to read unlisted regions from: they would read as
	// zeros where the backing image has data (issue #13).
	if err := checkBacking(r.Ref.Handle(), r.Volume, Options{}); err != nil {
		return nil, fmt.Errorf("%w (the lazy reader cannot read a backing image yet; restore the image with snaprestore restore --backing-image)", err)
	}
	bs := r.Backup.BlockSize
	conc := o.Concurrency
	switch {
	case conc > 0:
	case o.Sequential && o.BatchChecksums:
		conc = batchedConcurrency(bs)
	default:
		conc = defaultConcurrency(bs)
	}
	cacheBytes := o.CacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultCacheBytes
	}
	rd := &Reader{
		ctx: ctx, st: st, handle: r.Ref.Handle(), b: r.Backup, size: r.Volume.Size,
		pool:    newBufPool(conc),
		cache:   newBlockCache(int(max(1, cacheBytes/bs))),
		pending: map[string]chan struct{}{},
	}
	if o.Sequential {
		// Each block ahead holds a compressed object while it is fetched and
		// its decoded block until it is read, outside the cache, so the cache
		// gives up two blocks per block ahead: the whole stays within
		// CacheBytes plus one fetch, as a reader without readahead, with at
		// most a quarter of it ahead. Batched checksums start conc fetches
		// at once (16 of 2 MiB), whenever conc of the 2 × conc blocks ahead
		// are neither read nor fetched, so that one batch is fetched while
		// the one before is read: the cache keeps at least half of
		// CacheBytes, and the whole stays within that half, 2 × conc + 1
		// decoded blocks and conc compressed objects (130 MiB with the
		// default 64 MiB).
		cacheBlocks := rd.cache.max
		rd.together = 1
		if o.BatchChecksums {
			rd.ahead = 2 * conc
			rd.cache.max = max(1, cacheBlocks/2, cacheBlocks-2*rd.ahead)
			rd.together = conc
			rd.batch = min(firstBatch, rd.ahead)
		} else {
			rd.ahead = min(conc, cacheBlocks/4)
			rd.cache.max = max(1, cacheBlocks-2*rd.ahead)
			rd.batch = rd.ahead
		}
		rd.early = newBlockCache(rd.ahead + 1) // and the one being read, whose fetch may end after the next
	}
	// At most every cached block, every one ahead and one per fetch are
	// alive at once: their memory is what the free list keeps.
	rd.free = newFreeBlocks(bs, rd.cache.max+rd.ahead+1+conc)
	return rd, nil
}

// Size is the volume's logical size in bytes.
func (r *Reader) Size() int64 { return r.size }

// BlockSize is the backup's block size in bytes.
func (r *Reader) BlockSize() int64 { return r.b.BlockSize }

// Handle is the backup read, as bak://<volume>/<backup>.
func (r *Reader) Handle() string { return r.handle }

// Stats returns the reader's counters so far.
func (r *Reader) Stats() ReaderStats {
	return ReaderStats{
		Objects: r.objects.Load(), FetchedBytes: r.fetched.Load(),
		Hits: r.hits.Load(), Shared: r.shared.Load(), Waiting: r.waiting.Load(),
		CachedBytes: int64(r.cache.len()+r.early.len()) * r.b.BlockSize,
	}
}

// ReadAt reads len(p) bytes at off, following io.ReaderAt: fewer bytes only
// with an error, io.EOF at the end of the volume. A block that fails to
// fetch or verify is a *backupstore.BlockError naming its offset and object
// path (errors.Is-able to the backupstore sentinels); the bytes before it are
// read and counted in n, never wrong bytes.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: read at offset %d: %w", r.handle, off, ErrNegativeOffset)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	var eof error
	if rest := r.size - off; int64(len(p)) > rest {
		p, eof = p[:rest], io.EOF
	}
	if n, err := r.read(p, off); err != nil {
		return n, err
	}
	return len(p), eof
}

// Slices calls fn with the bytes of [off, off+n) in order, as ReadAt would
// read them but without copying: each slice is a decoded block's, or zeros
// for an unlisted block. fn must neither modify nor keep a slice (the cache
// may drop its block as soon as fn returns); an error of fn ends Slices and
// is returned as it is. A range past the end of the volume fails before fn
// is called; a block that fails to fetch or verify fails as in ReadAt, after
// fn had the bytes before it.
func (r *Reader) Slices(off, n int64, fn func([]byte) error) error {
	if off < 0 || n < 0 || off > r.size-n {
		return fmt.Errorf("%s: slices of %d bytes at offset %d: outside the volume of %d bytes", r.handle, n, off, r.size)
	}
	bs := r.b.BlockSize
	for n > 0 {
		start := off / bs * bs
		m := min(n, start+bs-off)
		if i, ok := r.listed(start); ok {
			b, err := r.block(i)
			if err != nil {
				return err
			}
			err = fn(b.data[off-start : off-start+m])
			b.release()
			if err != nil {
				return err
			}
		} else {
			for z := m; z > 0; z -= min(z, int64(len(zeroChunk))) {
				if err := fn(zeroChunk[:min(z, int64(len(zeroChunk)))]); err != nil {
					return err
				}
			}
		}
		off, n = off+m, n-m
	}
	return nil
}

// listed returns the index in Blocks of the block at offset start (a
// multiple of the block size), if the backup lists one there.
func (r *Reader) listed(start int64) (int, bool) {
	return slices.BinarySearchFunc(r.b.Blocks, start, func(b backupstore.Block, o int64) int {
		return cmp.Compare(b.Offset, o)
	})
}

// piece is the part of a read that one listed block serves.
type piece struct {
	block  int    // index in Blocks
	within int64  // offset of dst inside the block
	dst    []byte // where in p
	at     int    // dst's offset in p
}

// read fills p (inside the volume) from off: zeros for unlisted blocks, the
// listed ones fetched concurrently. On error n is where the first failed
// piece starts.
func (r *Reader) read(p []byte, off int64) (int, error) {
	bs := r.b.BlockSize
	var pieces []piece
	for at := 0; at < len(p); {
		pos := off + int64(at)
		start := pos / bs * bs
		within := pos - start
		n := int(min(int64(len(p)-at), bs-within))
		dst := p[at : at+n]
		if i, ok := r.listed(start); ok {
			pieces = append(pieces, piece{block: i, within: within, dst: dst, at: at})
		} else {
			clear(dst)
		}
		at += n
	}
	if len(pieces) == 1 {
		if err := r.fill(pieces[0]); err != nil {
			return pieces[0].at, err
		}
		return len(p), nil
	}
	errs := make([]error, len(pieces))
	var wg sync.WaitGroup
	for i, pc := range pieces {
		wg.Go(func() { errs[i] = r.fill(pc) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return pieces[i].at, err
		}
	}
	return len(p), nil
}

func (r *Reader) fill(pc piece) error {
	b, err := r.block(pc.block)
	if err != nil {
		return err
	}
	copy(pc.dst, b.data[pc.within:])
	b.release()
	return nil
}

// block returns the decoded block Blocks[i], from the cache or fetched, held
// for the caller, who releases it when done with its bytes (which nobody
// writes while it is held); one fetch per object serves every reader asking
// for it meanwhile.
func (r *Reader) block(i int) (*block, error) {
	blk := r.b.Blocks[i]
	for {
		b, err := r.tryBlock(blk, i)
		if b != nil || err != nil {
			return b, err
		}
		// The fetch shared ended and its block was dropped before this read
		// could hold it: look again.
	}
}

// tryBlock is one attempt of block: nil and no error when a fetch another
// read made was released before this one could hold its block.
func (r *Reader) tryBlock(blk backupstore.Block, i int) (*block, error) {
	if b, ok := r.cache.get(blk.Checksum); ok {
		// Read before: no reason to fetch ahead again (a filesystem's
		// metadata is read over and over while its files are copied).
		r.hits.Add(1)
		return b, nil
	}
	// Taken from the blocks fetched ahead before more are started, whose
	// arrival could push it out.
	b, ok := r.takeEarly(blk.Checksum)
	r.readahead(i)
	if ok {
		r.hits.Add(1)
		return b, nil
	}
	r.mu.Lock()
	ahead := r.pending[blk.Checksum]
	r.mu.Unlock()
	if ahead != nil {
		// A fetch ahead of this block, started but perhaps not yet running,
		// brings it: wait for it rather than fetch the object twice.
		r.waiting.Add(1)
		select {
		case <-ahead:
		case <-r.ctx.Done():
		}
		r.waiting.Add(-1)
		if b, ok := r.takeEarly(blk.Checksum); ok {
			r.shared.Add(1)
			return b, nil
		}
	}
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	ran := false
	v, err, _ := r.flight.Do(blk.Checksum, func() (any, error) {
		ran = true
		// A fetch that ended between the miss above and Do cached it.
		if b, ok := r.cached(blk.Checksum); ok {
			r.hits.Add(1)
			return b, nil
		}
		return r.fetch(blk, r.cache)
	})
	if err != nil {
		return nil, atOffset(err, blk.Offset)
	}
	if ran {
		return v.(*block), nil // the reference the function took
	}
	r.shared.Add(1)
	// Another read's fetch (or fetch ahead, which returns no block when it
	// found the object fetched already): hold its block while it lives.
	b, _ = v.(*block)
	if b == nil || !b.hold() {
		return nil, nil
	}
	if e, ok := r.takeEarly(blk.Checksum); ok {
		e.release() // the fetch shared was one ahead: the block is read now
	}
	return b, nil
}

// cached returns a block from the cache, or from the blocks fetched ahead,
// moving it to the cache: it is read now. The block is held for the caller.
func (r *Reader) cached(checksum string) (*block, bool) {
	if b, ok := r.cache.get(checksum); ok {
		return b, true
	}
	return r.takeEarly(checksum)
}

// takeEarly moves a block fetched ahead to the cache and returns it, held
// for the caller.
func (r *Reader) takeEarly(checksum string) (*block, bool) {
	if r.early == nil {
		return nil, false
	}
	b, ok := r.early.remove(checksum) // its reference passes to the caller
	if ok {
		r.cache.add(checksum, b)
	}
	return b, ok
}

// firstBatch is the first readahead's batch with BatchChecksums (see
// Reader.batch): enough lanes to be worth a batch (batchsha's minLanes), a
// quarter of the 16 of a full one.
const firstBatch = 4

// readahead starts background fetches of the listed blocks after Blocks[i],
// within r.ahead, that are neither cached nor being fetched: the first
// r.batch of them, once there are at least r.together (or r.batch while it
// grows; or the list ends sooner). Fetches started together are announced
// to the checksum batcher, which waits for them to hash their blocks in one
// batch. Their errors are dropped: a read of such a block fetches it again
// and reports its own.
func (r *Reader) readahead(i int) {
	last := min(i+r.ahead, len(r.b.Blocks)-1)
	var todo []backupstore.Block
	r.mu.Lock()
	for j := i + 1; j <= last && len(todo) < r.batch; j++ {
		blk := r.b.Blocks[j]
		if r.pending[blk.Checksum] == nil && !r.cache.has(blk.Checksum) && !r.early.has(blk.Checksum) {
			todo = append(todo, blk)
		}
	}
	if len(todo) < min(r.together, r.batch) && last < len(r.b.Blocks)-1 {
		todo = nil
	}
	if len(todo) > 0 && r.batch < r.ahead {
		r.batch = min(2*r.batch, r.ahead)
	}
	for _, blk := range todo {
		r.pending[blk.Checksum] = make(chan struct{})
	}
	r.mu.Unlock()
	arrived := func() {}
	if r.together > 1 && len(todo) > 1 {
		arrived = batchsha.Expect(len(todo))
	}
	for _, blk := range todo {
		go func() {
			defer arrived()
			ran := false
			v, _, _ := r.flight.Do(blk.Checksum, func() (any, error) {
				ran = true
				if r.cache.has(blk.Checksum) || r.early.has(blk.Checksum) {
					return nil, nil // fetched meanwhile
				}
				return r.fetch(blk, r.early)
			})
			if b, ok := v.(*block); ran && ok && b != nil {
				b.release() // early keeps its own reference
			}
			r.mu.Lock()
			close(r.pending[blk.Checksum])
			delete(r.pending, blk.Checksum)
			r.mu.Unlock()
		}()
	}
}

// fetch reads, decompresses and verifies one block object with the engine's
// fetchBlock (retries, size bound, SHA-512) into reused memory, adds it to
// into (the cache, or the blocks fetched ahead) and returns it held for the
// caller.
func (r *Reader) fetch(blk backupstore.Block, into *blockCache) (*block, error) {
	buf := r.pool.get(0) // decoded into b, not into a block of the work buffer
	defer r.pool.put(buf)
	b := r.free.get()
	buf.block = b.data
	defer func() { buf.block = nil }() // the block's memory is not the work buffer's
	g := group{checksum: blk.Checksum, offsets: []int64{blk.Offset}}
	if err := fetchBlock(r.ctx, r.st, r.handle, r.b, g, buf); err != nil {
		b.release()
		return nil, err
	}
	r.objects.Add(1)
	r.fetched.Add(int64(buf.src.Len()))
	into.add(blk.Checksum, b)
	return b, nil
}

// atOffset makes a block error shared by readers of the same object at
// different offsets name the offset this reader asked for.
func atOffset(err error, off int64) error {
	var be *backupstore.BlockError
	if !errors.As(err, &be) || (len(be.Offsets) == 1 && be.Offsets[0] == off) {
		return err
	}
	c := *be
	c.Offsets = []int64{off}
	return &c
}
