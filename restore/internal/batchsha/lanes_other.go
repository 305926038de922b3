//go:build !(goexperiment.simd && amd64)

package batchsha

import "crypto/sha512"

const vectorized = false

// sum8 digests the eight buffers one by one. Sum512 does not batch without
// vectors; the batcher's tests do, in every build.
func sum8(in *[lanes][]byte) (out [lanes][sha512.Size]byte) {
	for i, p := range in {
		out[i] = sha512.Sum512(p)
	}
	return out
}
