package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/restore/internal/batchsha"
)

// workBuf is one worker's memory: the compressed object, the plain block and
// the decompressor state. Restores hold at most Concurrency of them.
type workBuf struct {
	src   bytes.Buffer
	block []byte
	dec   backupstore.Decoder
}

// bufPool hands out at most n work buffers, allocated on first use.
type bufPool chan *workBuf

func newBufPool(n int) bufPool {
	p := make(bufPool, n)
	for range n {
		p <- nil
	}
	return p
}

func (p bufPool) get(blockSize int64) *workBuf {
	b := <-p
	if b == nil {
		b = &workBuf{block: make([]byte, blockSize)}
	}
	return b
}

func (p bufPool) put(b *workBuf) { p <- b }

// fetchSlots tells the checksum batcher (batchsha.Expect) that each of the
// engine's fetch slots will bring it a block while blocks remain to be
// fetched. A block decoded while the other slots write theirs then waits for
// them to fill a batch, instead of being hashed alone because no other block
// happened to be waiting (unannounced, 16 slots hashed only 41 of a 1 GiB
// restore's 512 blocks in batches; announced, about 505, for 45 % less CPU).
// Once fewer blocks remain than slots, each fetch withdraws its slot.
type fetchSlots struct {
	mu        sync.Mutex
	left      int    // blocks not yet fetched
	announced int    // slots the batcher still expects
	withdraw  func() // batchsha.Expect's, once per slot
}

// minAnnouncedSlots is the fewest slots worth announcing: two batches, one
// hashed while the next fills. With fewer, a block waiting for company keeps
// a CPU idle that hashing it alone would use (4 slots on 2 CPUs: 5 % slower
// announced, though with less CPU).
const minAnnouncedSlots = 2 * batchsha.Lanes

func announceSlots(slots, blocks int) *fetchSlots {
	return newFetchSlots(slots, blocks, batchsha.Expect)
}

func newFetchSlots(slots, blocks int, expect func(n int) (done func())) *fetchSlots {
	n := min(slots, blocks)
	if slots < minAnnouncedSlots {
		n = 0
	}
	return &fetchSlots{left: blocks, announced: n, withdraw: expect(n)}
}

// fetched records one fetch ended, its block verified or not.
func (f *fetchSlots) fetched() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left--
	for f.announced > max(f.left, 0) {
		f.withdraw()
		f.announced--
	}
}

// close withdraws the slots still announced: a run stopped early.
func (f *fetchSlots) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ; f.announced > 0; f.announced-- {
		f.withdraw()
	}
}

// retry policy for transient store errors (S3 5xx, timeouts, resets).
const (
	fetchAttempts = 5
	firstBackoff  = 100 * time.Millisecond
	maxBackoff    = 2 * time.Second
)

// fetchBlock reads, decompresses and verifies one block object into buf.block.
// Transient read errors are retried with exponential backoff; a missing object
// and checksum or decoding errors are not. Errors are *backupstore.BlockError.
func fetchBlock(ctx context.Context, st *backupstore.Store, handle string, b *backupstore.Backup, g group, buf *workBuf) error {
	key := backupstore.BlockPath(b.VolumeName, g.checksum)
	err := fetchObject(ctx, st.Objects(), key, &buf.src, maxObjectSize(b.BlockSize))
	if err == nil {
		err = buf.dec.Decode(b.CompressionMethod, buf.src.Bytes(), buf.block, g.checksum)
	}
	if err != nil {
		return &backupstore.BlockError{Backup: handle, Offsets: g.offsets, Path: key, Err: err}
	}
	return nil
}

// fetchObject reads one block object into dst, retrying transient errors; a
// missing object wraps ErrBlockMissing, an oversized one ErrCorruptBlock.
func fetchObject(ctx context.Context, objs backupstore.Objects, key string, dst *bytes.Buffer, limit int64) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := readObject(ctx, objs, key, dst, limit)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, backupstore.ErrCorruptBlock):
			return err
		case errors.Is(err, fs.ErrNotExist):
			return backupstore.ErrBlockMissing
		case ctx.Err() != nil || attempt == fetchAttempts:
			return fmt.Errorf("read block (attempt %d): %w", attempt, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// maxObjectSize bounds a block object: incompressible data grows by a few
// bytes per 4 MiB in lz4 and gzip; anything much larger is not a block.
func maxObjectSize(blockSize int64) int64 { return blockSize + blockSize/8 + 64<<10 }

func readObject(ctx context.Context, objs backupstore.Objects, key string, dst *bytes.Buffer, limit int64) error {
	dst.Reset()
	rc, err := objs.Open(ctx, key)
	if err != nil {
		return err
	}
	_, err = dst.ReadFrom(io.LimitReader(rc, limit+1))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err == nil && int64(dst.Len()) > limit {
		return fmt.Errorf("%w: object larger than %d bytes", backupstore.ErrCorruptBlock, limit)
	}
	return err
}

// zeroChunk is read-only: compared against, and written to zero ranges.
var zeroChunk [256 << 10]byte

// isZero reports whether b is all zero bytes.
func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroChunk))
		if !bytes.Equal(b[:n], zeroChunk[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
