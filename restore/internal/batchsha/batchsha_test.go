package batchsha

import (
	"crypto/sha512"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// lengths around the padding's edges (a tail of 111/112 bytes needs one or
// two padding blocks), block sizes and minBatchLen.
var lengths = []int{0, 1, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 1000, minBatchLen - 1, minBatchLen, minBatchLen + 17, 2 << 20}

func random(n int, seed uint64) []byte {
	p := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// TestSum8 checks the eight-lane digests against crypto/sha512, each lane
// with different data (in the build without vectors, sum8 is sha512 itself).
func TestSum8(t *testing.T) {
	for _, n := range lengths {
		var in [lanes][]byte
		for i := range in {
			in[i] = random(n, uint64(i))
		}
		out := sum8(&in)
		for i := range in {
			if want := sha512.Sum512(in[i]); out[i] != want {
				t.Fatalf("length %d, lane %d: digest %x, expected %x", n, i, out[i][:8], want[:8])
			}
		}
	}
}

// TestSum512Concurrent: many callers at once, of mixed lengths, each get
// their own buffer's digest.
func TestSum512Concurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			for i := range 6 {
				n := lengths[(g+i)%len(lengths)]
				if g%3 == 0 {
					n = 2 << 20
				}
				p := random(n, uint64(g*100+i))
				if got, want := Sum512(p), sha512.Sum512(p); got != want {
					t.Errorf("caller %d, call %d, length %d: wrong digest", g, i, n)
				}
			}
		})
	}
	wg.Wait()
}

// TestBatcherForms: with one hashing slot and callers queued behind it, the
// queued buffers of one length are hashed as batches, and a lone caller
// hashes alone.
func TestBatcherForms(t *testing.T) {
	b := newBatcher(func(int) int { return 1 })
	p := random(minBatchLen, 1)
	if got := b.sum(p); got != sha512.Sum512(p) {
		t.Fatal("lone caller: wrong digest")
	}
	if b.batches != 0 {
		t.Fatalf("a lone caller made %d batches, expected 0", b.batches)
	}
	// Hold the only slot, queue 16 callers, then free it.
	b.mu.Lock()
	b.hashing = 1
	b.mu.Unlock()
	var wg sync.WaitGroup
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = random(minBatchLen, uint64(10+i))
		wg.Go(func() {
			if got := b.sum(bufs[i]); got != sha512.Sum512(bufs[i]) {
				t.Errorf("queued caller %d: wrong digest", i)
			}
		})
	}
	for {
		b.mu.Lock()
		n := len(b.queue)
		b.mu.Unlock()
		if n == len(bufs) {
			break
		}
		runtime.Gosched()
	}
	b.mu.Lock()
	b.hashing = 0
	b.cond.Broadcast()
	b.mu.Unlock()
	wg.Wait()
	if b.batches != 2 {
		t.Fatalf("16 queued buffers of one length: %d batches, expected 2 of 8", b.batches)
	}
}

// TestTakeGroupsByLength: a batch holds one length only; fewer than
// minLanes of the oldest's length go one at a time.
func TestTakeGroupsByLength(t *testing.T) {
	b := newBatcher(func(int) int { return 1 })
	mk := func(ns ...int) {
		b.queue = nil
		for _, n := range ns {
			b.queue = append(b.queue, &request{p: make([]byte, n)})
		}
	}
	mk(5, 7, 5, 5, 7, 5, 5)
	got := b.take()
	if len(got) != 5 || len(b.queue) != 2 {
		t.Fatalf("took %d (left %d), expected the five of length 5", len(got), len(b.queue))
	}
	for _, r := range got {
		if len(r.p) != 5 {
			t.Fatalf("batch mixes lengths: %d", len(r.p))
		}
	}
	mk(7, 5, 5, 5, 5)
	if got := b.take(); len(got) != 1 || len(got[0].p) != 7 {
		t.Fatalf("oldest of a length with fewer than %d waiting: took %d, expected it alone", minLanes, len(got))
	}
}

func BenchmarkSum512(b *testing.B) {
	p := random(2<<20, 1)
	b.Run("crypto-sha512", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			sha512.Sum512(p)
		}
	})
	var in [lanes][]byte
	for i := range in {
		in[i] = random(2<<20, uint64(i))
	}
	b.Run("eight-lanes", func(b *testing.B) {
		b.SetBytes(int64(lanes * len(p)))
		for b.Loop() {
			sum8(&in)
		}
	})
}

// TestTakeWaitsForCompany: while a batch is hashed, a caller does not hash
// alone if the waiting and hashing buffers could fill the next batch, but
// does when they could not (two callers on two CPUs run in parallel).
func TestTakeWaitsForCompany(t *testing.T) {
	b := newBatcher(func(int) int { return 2 })
	b.queue = []*request{{p: make([]byte, 9)}, {p: make([]byte, 9)}}
	b.hashing, b.busy = 1, 6
	if got := b.take(); got != nil {
		t.Fatalf("6 buffers hashing, 2 waiting: took %d, expected to wait for the batch", len(got))
	}
	b.busy = 1
	if got := b.take(); len(got) != 1 {
		t.Fatalf("1 buffer hashing, 2 waiting: took %d, expected the oldest alone", len(got))
	}
	b.hashing = 2
	if got := b.take(); got != nil {
		t.Fatalf("every slot busy: took %d, expected nil", len(got))
	}
}

// TestTakeWaitsForAnnounced: buffers announced by Expect keep the first
// arrivals waiting (no hash alone on a free CPU) while they could still make
// a batch, not while others hash, and at most maxWait after the oldest
// arrived or the last hash ended; a caller that is done no longer counts.
func TestTakeWaitsForAnnounced(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0
	b := newBatcher(func(int) int { return 2 })
	b.now = func() time.Time { return now }
	b.expected = 8
	b.queue = []*request{{p: make([]byte, 9), at: t0}}
	// take runs under b.mu, which the wake it arms takes too.
	take := func() []*request {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.take()
	}
	if got := take(); got != nil {
		t.Fatalf("1 waiting, 7 announced: took %d, expected to wait", len(got))
	}
	b.mu.Lock()
	armed := b.wake != nil
	b.mu.Unlock()
	if !armed {
		t.Fatal("waiting for announced callers armed no wake")
	}
	now = t0.Add(maxWait + time.Microsecond)
	b.hashing, b.busy = 1, 1
	if got := take(); got != nil {
		t.Fatalf("past maxWait while another hashes: took %d, expected to wait for it", len(got))
	}
	b.hashing, b.busy, b.lastDone = 0, 0, now
	if got := take(); got != nil {
		t.Fatalf("a hash just ended: took %d, expected maxWait more", len(got))
	}
	now = now.Add(maxWait)
	if got := take(); len(got) != 1 {
		t.Fatalf("maxWait after the last hash: took %d, expected the oldest alone", len(got))
	}
	b.queue = []*request{{p: make([]byte, 9), at: now}}
	b.expected = minLanes - 1 // itself and too few more for a batch of minLanes
	if got := take(); len(got) != 1 {
		t.Fatalf("too few announced for a batch: took %d, expected the oldest alone", len(got))
	}
}

// TestExpectMakesOneBatch: eight announced callers arriving one by one on a
// batcher with free CPUs are hashed as one batch (the clock stands still, so
// no wait ends early), each with its own digest.
func TestExpectMakesOneBatch(t *testing.T) {
	b := newBatcher(func(int) int { return 2 })
	t0 := time.Unix(1000, 0)
	b.now = func() time.Time { return t0 }
	done := b.expect(lanes)
	var wg sync.WaitGroup
	for i := range lanes {
		p := random(minBatchLen, uint64(i))
		wg.Go(func() {
			defer done()
			if got := b.sum(p); got != sha512.Sum512(p) {
				t.Errorf("caller %d: wrong digest", i)
			}
		})
		time.Sleep(time.Millisecond) // arrive one by one
	}
	wg.Wait()
	if b.batches != 1 || b.batched != lanes || b.expected != 0 {
		t.Errorf("%d batches of %d buffers, %d still expected; expected one batch of %d, none expected", b.batches, b.batched, b.expected, lanes)
	}
}
