//go:build goexperiment.simd && amd64

package batchsha

import (
	"crypto/sha512"
	"encoding/binary"
	"simd/archsimd"
	"unsafe"
)

var vectorized = archsimd.X86.AVX512()

// vec is one 64-bit word of each of the eight digests: lane i belongs to
// buffer i.
type vec = archsimd.Int64x8

func splat(v uint64) vec { return archsimd.BroadcastInt64x8(int64(v)) }

// constants are the vectors compress reads in every round.
type constants struct {
	// The round constants of FIPS 180-4 (SHA-512), broadcast to every lane.
	k [80]vec
	// Counts for the logical right shifts by 6 and 7, shifted by a vector
	// count: archsimd's ShiftAllRight takes its count in a register loaded by
	// a legacy SSE move, which costs an SSE/AVX-512 transition each time (the
	// hash runs 20 times slower).
	by6, by7 archsimd.Uint64x8
}

var (
	// On the heap, where an object of this size is 64-byte aligned (its size
	// class is a multiple of 64); a global is aligned to 32 bytes only, and
	// a misaligned vector load is two loads.
	tab = new(constants)
	// The initial hash value of SHA-512 in every lane.
	initH [8]vec
)

func init() {
	k := [80]uint64{
		0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
		0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
		0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
		0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
		0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
		0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
		0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
		0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
		0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
		0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
		0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
		0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
		0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
		0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
		0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
		0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
		0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
		0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
		0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
		0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
	}
	h := [8]uint64{
		0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
		0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
	}
	if !vectorized {
		return // no AVX-512: the vector types must not be touched
	}
	for i, v := range k {
		tab.k[i] = splat(v)
	}
	for i, v := range h {
		initH[i] = splat(v)
	}
	tab.by6, tab.by7 = splat(6).AsUint64x8(), splat(7).AsUint64x8()
}

// sum8 returns the SHA-512 digests of eight buffers of one length.
func sum8(in *[lanes][]byte) (out [lanes][sha512.Size]byte) {
	st := initH
	n := len(in[0])
	full := n / 128 * 128
	compress(&st, in, full)
	// Legacy SSE code (memmove's, the runtime's) runs slowly while the upper
	// halves of the vector registers are dirty: clear them before it runs.
	archsimd.ClearAVXUpperBits()
	// The padding: the last partial block, 0x80, zeros and the length in
	// bits as a 128-bit big-endian number; one or two blocks.
	var tailBuf [lanes][256]byte
	var tail [lanes][]byte
	rest := n - full
	size := 128
	if rest >= 112 {
		size = 256
	}
	for i := range in {
		t := tailBuf[i][:size]
		copy(t, in[i][full:])
		t[rest] = 0x80
		binary.BigEndian.PutUint64(t[size-16:], uint64(n)>>61)
		binary.BigEndian.PutUint64(t[size-8:], uint64(n)<<3)
		tail[i] = t
	}
	compress(&st, &tail, size)
	var words [lanes]uint64
	for w := range st {
		st[w].AsUint64x8().Store(&words)
		for i := range out {
			binary.BigEndian.PutUint64(out[i][8*w:], words[i])
		}
	}
	archsimd.ClearAVXUpperBits()
	return out
}

// compress runs the SHA-512 compression function over the first n bytes of
// each buffer, a multiple of 128, one lane per buffer. The rounds are
// unrolled sixteen at a time, so the working variables are renamed instead of
// moved, each message word is computed next to the round that uses it, and
// the logic is in Int64x8 operations, which the compiler fuses into
// three-input VPTERNLOGQs (it does not for Uint64x8).
func compress(st *[8]vec, in *[lanes][]byte, n int) {
	// The message words, 64-byte aligned in buf (Go aligns a stack array of
	// vectors only to 32 bytes; a misaligned one splits each access in two).
	var buf [17]vec
	w := (*[16]vec)(unsafe.Add(unsafe.Pointer(&buf), -uintptr(unsafe.Pointer(&buf))&63))
	a, b, c, d, e, f, g, h := st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7]
	for off := 0; off < n; off += 128 {
		loadWords(w, in, off)
		a0, b0, c0, d0, e0, f0, g0, h0 := a, b, c, d, e, f, g, h
		{
			k := (*[16]vec)(tab.k[:])
			d, h = round(a, b, c, d, e, f, g, h, w[0].Add(k[0]))
			c, g = round(h, a, b, c, d, e, f, g, w[1].Add(k[1]))
			b, f = round(g, h, a, b, c, d, e, f, w[2].Add(k[2]))
			a, e = round(f, g, h, a, b, c, d, e, w[3].Add(k[3]))
			h, d = round(e, f, g, h, a, b, c, d, w[4].Add(k[4]))
			g, c = round(d, e, f, g, h, a, b, c, w[5].Add(k[5]))
			f, b = round(c, d, e, f, g, h, a, b, w[6].Add(k[6]))
			e, a = round(b, c, d, e, f, g, h, a, w[7].Add(k[7]))
			d, h = round(a, b, c, d, e, f, g, h, w[8].Add(k[8]))
			c, g = round(h, a, b, c, d, e, f, g, w[9].Add(k[9]))
			b, f = round(g, h, a, b, c, d, e, f, w[10].Add(k[10]))
			a, e = round(f, g, h, a, b, c, d, e, w[11].Add(k[11]))
			h, d = round(e, f, g, h, a, b, c, d, w[12].Add(k[12]))
			g, c = round(d, e, f, g, h, a, b, c, w[13].Add(k[13]))
			f, b = round(c, d, e, f, g, h, a, b, w[14].Add(k[14]))
			e, a = round(b, c, d, e, f, g, h, a, w[15].Add(k[15]))
		}
		for t := 16; t < 80; t += 16 {
			k := (*[16]vec)(tab.k[t:])
			d, h = round(a, b, c, d, e, f, g, h, next(w, 0).Add(k[0]))
			c, g = round(h, a, b, c, d, e, f, g, next(w, 1).Add(k[1]))
			b, f = round(g, h, a, b, c, d, e, f, next(w, 2).Add(k[2]))
			a, e = round(f, g, h, a, b, c, d, e, next(w, 3).Add(k[3]))
			h, d = round(e, f, g, h, a, b, c, d, next(w, 4).Add(k[4]))
			g, c = round(d, e, f, g, h, a, b, c, next(w, 5).Add(k[5]))
			f, b = round(c, d, e, f, g, h, a, b, next(w, 6).Add(k[6]))
			e, a = round(b, c, d, e, f, g, h, a, next(w, 7).Add(k[7]))
			d, h = round(a, b, c, d, e, f, g, h, next(w, 8).Add(k[8]))
			c, g = round(h, a, b, c, d, e, f, g, next(w, 9).Add(k[9]))
			b, f = round(g, h, a, b, c, d, e, f, next(w, 10).Add(k[10]))
			a, e = round(f, g, h, a, b, c, d, e, next(w, 11).Add(k[11]))
			h, d = round(e, f, g, h, a, b, c, d, next(w, 12).Add(k[12]))
			g, c = round(d, e, f, g, h, a, b, c, next(w, 13).Add(k[13]))
			f, b = round(c, d, e, f, g, h, a, b, next(w, 14).Add(k[14]))
			e, a = round(b, c, d, e, f, g, h, a, next(w, 15).Add(k[15]))
		}
		a, b, c, d = a.Add(a0), b.Add(b0), c.Add(c0), d.Add(d0)
		e, f, g, h = e.Add(e0), f.Add(f0), g.Add(g0), h.Add(h0)
	}
	st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7] = a, b, c, d, e, f, g, h
}

// round is one SHA-512 round given W[t]+K[t]; it returns the new d and h,
// which the caller renames to e and a.
func round(a, b, c, d, e, f, g, h, kw vec) (vec, vec) {
	s1 := e.RotateAllRight(14).Xor(e.RotateAllRight(18)).Xor(e.RotateAllRight(41))
	ch := e.And(f).Xor(e.AndNot(g))
	t1 := h.Add(kw).Add(ch).Add(s1) // s1 is ready last
	s0 := a.RotateAllRight(28).Xor(a.RotateAllRight(34)).Xor(a.RotateAllRight(39))
	maj := a.And(b).Or(c.And(a.Or(b)))
	return d.Add(t1), t1.Add(s0.Add(maj))
}

// next replaces W[t-16] in w[j] with W[t], t ≡ j (mod 16), and returns it.
func next(w *[16]vec, j int) vec {
	w2, w15 := w[(j+14)&15], w[(j+1)&15]
	s1 := w2.RotateAllRight(19).Xor(w2.RotateAllRight(61)).Xor(w2.AsUint64x8().ShiftRight(tab.by6).AsInt64x8())
	s0 := w15.RotateAllRight(1).Xor(w15.RotateAllRight(8)).Xor(w15.AsUint64x8().ShiftRight(tab.by7).AsInt64x8())
	w[j] = s1.Add(w[(j+9)&15]).Add(s0).Add(w[j])
	return w[j]
}

// Indices of the three steps of an 8×8 transpose of 64-bit words (pairs
// of words, pairs of pairs, halves) and of the byte swap of each word.
var (
	pickEven, pickOdd   = [8]uint64{0, 8, 2, 10, 4, 12, 6, 14}, [8]uint64{1, 9, 3, 11, 5, 13, 7, 15}
	pickLow2, pickHigh2 = [8]uint64{0, 1, 8, 9, 4, 5, 12, 13}, [8]uint64{2, 3, 10, 11, 6, 7, 14, 15}
	pickLow4, pickHigh4 = [8]uint64{0, 1, 2, 3, 8, 9, 10, 11}, [8]uint64{4, 5, 6, 7, 12, 13, 14, 15}
	swapBytes           [64]int8
)

func init() {
	for i := range swapBytes {
		swapBytes[i] = int8(i&^7 + 7 - i&7)
	}
}

// loadWords sets w[t] to the big-endian word t of the 128-byte block at off
// of each buffer: per half block, eight vector loads and byte swaps and a
// transpose. Named variables, not arrays: the compiler zeroes a local array
// with legacy SSE stores, which cost a transition after AVX-512 code.
func loadWords(w *[16]vec, in *[lanes][]byte, off int) {
	swap := archsimd.LoadInt8x64(&swapBytes)
	even, odd := archsimd.LoadUint64x8(&pickEven), archsimd.LoadUint64x8(&pickOdd)
	low2, high2 := archsimd.LoadUint64x8(&pickLow2), archsimd.LoadUint64x8(&pickHigh2)
	low4, high4 := archsimd.LoadUint64x8(&pickLow4), archsimd.LoadUint64x8(&pickHigh4)
	load := func(i, at int) vec {
		return archsimd.LoadUint8x64Slice(in[i][at : at+64]).PermuteOrZeroGrouped(swap).AsInt64x8()
	}
	for half := range 2 {
		at := off + 64*half
		r0, r1, r2, r3 := load(0, at), load(1, at), load(2, at), load(3, at)
		r4, r5, r6, r7 := load(4, at), load(5, at), load(6, at), load(7, at)
		// Rows interleaved in pairs: a01 holds the even columns of rows 0
		// and 1, b01 the odd ones.
		a01, b01 := r0.ConcatPermute(r1, even), r0.ConcatPermute(r1, odd)
		a23, b23 := r2.ConcatPermute(r3, even), r2.ConcatPermute(r3, odd)
		a45, b45 := r4.ConcatPermute(r5, even), r4.ConcatPermute(r5, odd)
		a67, b67 := r6.ConcatPermute(r7, even), r6.ConcatPermute(r7, odd)
		// Four rows: cM holds columns M and M+4 of rows 0-3, dM of rows 4-7.
		c0, c2 := a01.ConcatPermute(a23, low2), a01.ConcatPermute(a23, high2)
		c1, c3 := b01.ConcatPermute(b23, low2), b01.ConcatPermute(b23, high2)
		d0, d2 := a45.ConcatPermute(a67, low2), a45.ConcatPermute(a67, high2)
		d1, d3 := b45.ConcatPermute(b67, low2), b45.ConcatPermute(b67, high2)
		o := w[8*half : 8*half+8]
		o[0], o[4] = c0.ConcatPermute(d0, low4), c0.ConcatPermute(d0, high4)
		o[1], o[5] = c1.ConcatPermute(d1, low4), c1.ConcatPermute(d1, high4)
		o[2], o[6] = c2.ConcatPermute(d2, low4), c2.ConcatPermute(d2, high4)
		o[3], o[7] = c3.ConcatPermute(d3, low4), c3.ConcatPermute(d3, high4)
	}
}
