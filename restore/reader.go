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
	// Off, a reader fetches only what is read (files cat, nbd).
	Sequential bool
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
	CachedBytes  int64 // decoded bytes in the cache now
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
	cache  *blockCache
	flight singleflight.Group
	// ahead is how many listed blocks after each one read are fetched in the
	// background (ReaderOptions.Sequential); pending holds their checksums
	// while they are fetched, so each is asked for once.
	ahead   int
	mu      sync.Mutex
	pending map[string]bool

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
	if conc == 0 {
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
		pending: map[string]bool{},
	}
	if o.Sequential {
		// Blocks fetched ahead must not push the one being read out of the
		// cache: at most half of it is ahead. Each fetch in flight holds a
		// compressed object and a block outside the cache, so the cache gives
		// up two blocks per fetch ahead and the whole stays within CacheBytes
		// plus one fetch, as a reader without readahead.
		rd.ahead = min(conc, rd.cache.max/4)
		rd.cache.max = max(1, rd.cache.max-2*rd.ahead)
	}
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
		CachedBytes: int64(r.cache.len()) * r.b.BlockSize,
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
		if i, ok := slices.BinarySearchFunc(r.b.Blocks, start, func(b backupstore.Block, o int64) int {
			return cmp.Compare(b.Offset, o)
		}); ok {
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
	data, err := r.block(pc.block)
	if err != nil {
		return err
	}
	copy(pc.dst, data[pc.within:])
	return nil
}

// block returns the decoded block Blocks[i], from the cache or fetched; one
// fetch per object serves every reader asking for it meanwhile. The slice is
// never written after it is returned (the cache drops blocks, it does not
// reuse them), so readers copy from it without a lock.
func (r *Reader) block(i int) ([]byte, error) {
	blk := r.b.Blocks[i]
	r.readahead(i)
	if data, ok := r.cache.get(blk.Checksum); ok {
		r.hits.Add(1)
		return data, nil
	}
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	ran := false
	v, err, _ := r.flight.Do(blk.Checksum, func() (any, error) {
		ran = true
		// A fetch that ended between the miss above and Do cached it.
		if data, ok := r.cache.get(blk.Checksum); ok {
			r.hits.Add(1)
			return data, nil
		}
		return r.fetch(blk)
	})
	if !ran {
		r.shared.Add(1)
	}
	if err != nil {
		return nil, atOffset(err, blk.Offset)
	}
	return v.([]byte), nil
}

// readahead starts background fetches of the r.ahead listed blocks after
// Blocks[i] that are neither cached nor being fetched. Their errors are
// dropped: a read of such a block fetches it again and reports its own.
func (r *Reader) readahead(i int) {
	for j := i + 1; j <= i+r.ahead && j < len(r.b.Blocks); j++ {
		blk := r.b.Blocks[j]
		if r.cache.has(blk.Checksum) {
			continue
		}
		r.mu.Lock()
		busy := r.pending[blk.Checksum]
		r.pending[blk.Checksum] = true
		r.mu.Unlock()
		if busy {
			continue
		}
		go func() {
			_, _, _ = r.flight.Do(blk.Checksum, func() (any, error) {
				if data, ok := r.cache.get(blk.Checksum); ok {
					return data, nil
				}
				return r.fetch(blk)
			})
			r.mu.Lock()
			delete(r.pending, blk.Checksum)
			r.mu.Unlock()
		}()
	}
}

// fetch reads, decompresses and verifies one block object with the engine's
// fetchBlock (retries, size bound, SHA-512) and caches it.
func (r *Reader) fetch(blk backupstore.Block) ([]byte, error) {
	bs := r.b.BlockSize
	buf := r.pool.get(bs)
	defer r.pool.put(buf)
	if buf.block == nil {
		buf.block = make([]byte, bs)
	}
	g := group{checksum: blk.Checksum, offsets: []int64{blk.Offset}}
	if err := fetchBlock(r.ctx, r.st, r.handle, r.b, g, buf); err != nil {
		return nil, err
	}
	r.objects.Add(1)
	r.fetched.Add(int64(buf.src.Len()))
	data := buf.block
	buf.block = nil // the cache owns it now
	r.cache.add(blk.Checksum, data)
	return data, nil
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
