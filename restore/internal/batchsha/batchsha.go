// Package batchsha computes SHA-512 digests of large buffers, hashing the
// buffers of concurrent callers together, eight at a time, in the lanes of
// AVX-512 vectors where the CPU and the build allow it.
//
// SHA-512 of every block is most of a restore's CPU time (Longhorn's block
// checksum), and one SHA-512 cannot be split: its rounds depend on each
// other. Eight independent digests in one 512-bit vector can: the engine's
// concurrent fetch workers each verify a block, so their calls are
// combined. A lone caller, or a few, hash on their own as crypto/sha512
// does; a batch forms only when more buffers wait than CPUs are free, or
// when the callers were announced (Expect: a reader's fetches ahead).
//
// The vector code needs amd64, a CPU with AVX-512 and a build with
// GOEXPERIMENT=simd (the Makefile's). Anywhere else Sum512 is
// crypto/sha512.Sum512.
package batchsha

import (
	"crypto/sha512"
	"runtime"
	"sync"
	"time"
)

// minBatchLen is the smallest buffer worth waiting for company: below it a
// call hashes at once (names, small objects).
const minBatchLen = 64 << 10

// maxWait bounds how long a buffer waits for announced callers (Expect) to
// arrive: about a third of one 2 MiB digest, more than reading and
// decompressing a block takes. The bound keeps a caller whose company is
// blocked on something it holds from waiting forever.
const maxWait = 2 * time.Millisecond

// minLanes is the fewest buffers hashed as one batch: an eight-lane pass
// costs about 1.5 to 2 single digests of the same length (BenchmarkSum512),
// so two are hashed one by one, in parallel where two CPUs are free.
const minLanes = 3

// Sum512 returns the SHA-512 digest of p, as crypto/sha512.Sum512. It may
// wait for other callers' buffers and hash them on its goroutine; p is only
// read, and not after Sum512 returns.
func Sum512(p []byte) [sha512.Size]byte {
	if !vectorized || len(p) < minBatchLen {
		return sha512.Sum512(p)
	}
	return shared.sum(p)
}

// Vectorized reports whether Sum512 batches (AVX-512 and GOEXPERIMENT=simd).
func Vectorized() bool { return vectorized }

// Expect announces n calls of Sum512 about to be made (fetches started
// together, each ending in a digest), so that the first to arrive wait for
// the others to fill a batch instead of taking the free CPUs to hash alone
// and keeping the rest from arriving. A buffer waits for them while other
// buffers are hashed (the CPUs they need), then at most maxWait.
// Each of the n must call the returned function once, after its Sum512 or
// instead of it (a fetch that failed first): until then it counts as coming.
func Expect(n int) (done func()) {
	if !vectorized || n <= 0 {
		return func() {}
	}
	return shared.expect(n)
}

var shared = newBatcher(runtime.GOMAXPROCS)

type request struct {
	p    []byte
	at   time.Time // when it was queued
	sum  [sha512.Size]byte
	done bool
}

// batcher queues the buffers of concurrent calls. Up to procs() callers hash
// at a time, each taking from the queue either a batch of minLanes to eight
// buffers of one length or the oldest buffer alone; the others wait for
// their buffer to be done or for a free hashing slot. A caller hashes a
// buffer alone only when no batch is about to form, so a few concurrent
// callers run in parallel as before and many fill the lanes.
type batcher struct {
	procs func(int) int

	mu      sync.Mutex
	cond    sync.Cond
	queue   []*request
	hashing int // callers hashing now
	busy    int // buffers they hash
	// expected counts the calls announced by Expect and not yet done; those
	// not queued or hashed are still coming. wake is armed while a buffer
	// waits for them, to end the wait at maxWait.
	expected int
	lastDone time.Time // when the last hash ended
	wake     *time.Timer
	now      func() time.Time
	batches  int // batches hashed so far
	batched  int // buffers in them
}

func newBatcher(procs func(int) int) *batcher {
	b := &batcher{procs: procs, now: time.Now}
	b.cond.L = &b.mu
	return b
}

func (b *batcher) expect(n int) func() {
	b.mu.Lock()
	b.expected += n
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		b.expected--
		b.cond.Broadcast()
		b.mu.Unlock()
	}
}

func (b *batcher) sum(p []byte) [sha512.Size]byte {
	b.mu.Lock()
	r := &request{p: p, at: b.now()}
	b.queue = append(b.queue, r)
	for !r.done {
		batch := b.take()
		if batch == nil {
			b.cond.Wait()
			continue
		}
		if len(batch) > 1 {
			b.batches++
			b.batched += len(batch)
		}
		b.hashing++
		b.busy += len(batch)
		b.mu.Unlock()
		hash(batch)
		b.mu.Lock()
		b.hashing--
		b.busy -= len(batch)
		b.lastDone = b.now()
		for _, q := range batch {
			q.done = true
		}
		b.cond.Broadcast()
	}
	b.mu.Unlock()
	return r.sum
}

// take removes the next work from the queue: nil when there is none or every
// slot is busy, or when a batch is being hashed and the callers waiting and
// hashing could fill the next one, or when announced callers still coming
// could make a batch (waiting for them is cheaper than hashing alone); else
// up to eight buffers of the oldest one's length when at least minLanes
// wait, else the oldest alone.
func (b *batcher) take() []*request {
	if len(b.queue) == 0 || b.hashing >= b.procs(0) {
		return nil
	}
	n := len(b.queue[0].p)
	same := 0
	for _, q := range b.queue {
		if len(q.p) == n {
			same++
		}
	}
	if same < lanes && b.hashing > 0 && same+b.busy >= lanes {
		// Enough callers are about to fill a batch: wait for company
		// rather than hash alone.
		return nil
	}
	// Announced calls not here yet (Expect), counted generously: one that
	// hashed and is not done yet still counts, for a moment.
	if coming := b.expected - len(b.queue) - b.busy; same < lanes && coming > 0 && same+coming >= minLanes {
		// While others hash, the CPUs the coming callers need to arrive
		// may be theirs: wait for them to finish (they wake the queue),
		// then up to maxWait.
		if b.hashing > 0 {
			return nil
		}
		since := b.queue[0].at
		if b.lastDone.After(since) {
			since = b.lastDone
		}
		if left := maxWait - b.now().Sub(since); left > 0 {
			b.wakeIn(left)
			return nil
		}
	}
	if same < minLanes {
		r := b.queue[0]
		b.queue = b.queue[1:]
		return []*request{r}
	}
	batch := make([]*request, 0, lanes)
	rest := b.queue[:0]
	for _, q := range b.queue {
		if len(q.p) == n && len(batch) < lanes {
			batch = append(batch, q)
		} else {
			rest = append(rest, q)
		}
	}
	clear(b.queue[len(rest):])
	b.queue = rest
	return batch
}

// wakeIn makes the waiting callers look at the queue again after d, unless
// a wake is already armed (the oldest buffer's, which comes first). Called
// with b.mu held.
func (b *batcher) wakeIn(d time.Duration) {
	if b.wake != nil {
		return
	}
	b.wake = time.AfterFunc(d, func() {
		b.mu.Lock()
		b.wake = nil
		b.cond.Broadcast()
		b.mu.Unlock()
	})
}

// hash fills in the digests of batch: one request alone, or up to eight
// of one length together.
func hash(batch []*request) {
	if len(batch) == 1 {
		batch[0].sum = sha512.Sum512(batch[0].p)
		return
	}
	var in [lanes][]byte
	for i := range in {
		in[i] = batch[min(i, len(batch)-1)].p // a short batch repeats its last buffer
	}
	out := sum8(&in)
	for i, r := range batch {
		r.sum = out[i]
	}
}

// lanes is the number of digests one vector pass computes.
const lanes = Lanes

// Lanes is the number of buffers one vector pass digests.
const Lanes = 8

// Batches is the number of buffers hashed in batches so far in this process
// (0 without vectors), for tests and benchmarks.
func Batches() int {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return shared.batched
}
