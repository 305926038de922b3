//go:build goexperiment.simd && amd64

package batchsha

import (
	"crypto/sha512"
	"encoding/binary"
	"simd/archsimd"
)

var vectorized = archsimd.X86.AVX512()

// vec is one 64-bit word of each of the eight digests: lane i belongs to
// buffer i.
type vec = archsimd.Uint64x8

func splat(v uint64) vec {
	a := [lanes]uint64{v, v, v, v, v, v, v, v}
	return archsimd.LoadUint64x8(&a)
}

// The round constants and initial hash value of FIPS 180-4 (SHA-512),
// broadcast to every lane.
var (
	roundK [80]vec
	initH  [8]vec
	// Masks for logical right shifts by 6 and 7, written as a rotate and an
	// AND: archsimd's ShiftAllRight takes its count in a register loaded by a
	// legacy SSE move, which costs an SSE/AVX-512 transition each time.
	low58, low57 vec
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
		roundK[i] = splat(v)
	}
	for i, v := range h {
		initH[i] = splat(v)
	}
	low58, low57 = splat(1<<58-1), splat(1<<57-1)
}

// sum8 returns the SHA-512 digests of eight buffers of one length.
func sum8(in *[lanes][]byte) (out [lanes][sha512.Size]byte) {
	st := initH
	n := len(in[0])
	full := n / 128 * 128
	compress(&st, in, full)
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
		st[w].Store(&words)
		for i := range out {
			binary.BigEndian.PutUint64(out[i][8*w:], words[i])
		}
	}
	return out
}

// compress runs the SHA-512 compression function over the first n bytes of
// each buffer, a multiple of 128, one lane per buffer.
func compress(st *[8]vec, in *[lanes][]byte, n int) {
	var w [16]vec
	var words [lanes]uint64
	a, b, c, d, e, f, g, h := st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7]
	for off := 0; off < n; off += 128 {
		for t := range 16 {
			at := off + 8*t
			for i := range words {
				words[i] = binary.BigEndian.Uint64(in[i][at : at+8])
			}
			w[t] = archsimd.LoadUint64x8(&words)
		}
		a0, b0, c0, d0, e0, f0, g0, h0 := a, b, c, d, e, f, g, h
		for t := range 80 {
			var wt vec
			if t < 16 {
				wt = w[t]
			} else {
				w2, w15 := w[(t-2)&15], w[(t-15)&15]
				s1 := w2.RotateAllRight(19).Xor(w2.RotateAllRight(61)).Xor(w2.RotateAllRight(6).And(low58))
				s0 := w15.RotateAllRight(1).Xor(w15.RotateAllRight(8)).Xor(w15.RotateAllRight(7).And(low57))
				wt = s1.Add(w[(t-7)&15]).Add(s0).Add(w[t&15])
				w[t&15] = wt
			}
			S1 := e.RotateAllRight(14).Xor(e.RotateAllRight(18)).Xor(e.RotateAllRight(41))
			ch := e.And(f).Xor(g.AndNot(e))
			t1 := h.Add(S1).Add(ch).Add(roundK[t]).Add(wt)
			S0 := a.RotateAllRight(28).Xor(a.RotateAllRight(34)).Xor(a.RotateAllRight(39))
			maj := a.And(b).Or(c.And(a.Or(b)))
			h, g, f, e, d, c, b, a = g, f, e, d.Add(t1), c, b, a, t1.Add(S0.Add(maj))
		}
		a, b, c, d = a.Add(a0), b.Add(b0), c.Add(c0), d.Add(d0)
		e, f, g, h = e.Add(e0), f.Add(f0), g.Add(g0), h.Add(h0)
	}
	st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7] = a, b, c, d, e, f, g, h
}
