package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// fuzzImageSize is the volume a fuzz input is the start of (zero padded);
// small, so the fuzzer runs thousands of inputs a second.
const fuzzImageSize = 64 << 10

// FuzzList: any bytes at the start of a volume list partitions inside it or
// fail with ErrDamaged, never panic or loop. Each input is tried as is and
// with its GPT checksums recomputed, so the fuzzer gets past the CRCs into
// the header and entry checks. Seeds: testdata/fuzz/FuzzList (the first
// sectors of small images partitioned by sfdisk: GPT, MBR with logical
// partitions).
func FuzzList(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		img := make([]byte, fuzzImageSize)
		copy(img, data)
		for _, fix := range []bool{false, true} {
			if fix && !fixGPT(img) {
				continue
			}
			parts, err := List(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("error outside ErrDamaged: %v", err)
				}
				continue
			}
			seen := map[int]bool{}
			for _, p := range parts {
				if p.Start < 0 || p.Size <= 0 || p.Start+p.Size > int64(len(img)) || seen[p.Number] || p.Number < 1 {
					t.Fatalf("listed %+v of a %d-byte volume (numbers so far %v)", p, len(img), seen)
				}
				seen[p.Number] = true
			}
		}
	})
}

// fixGPT recomputes the primary GPT's entry-array and header CRCs of img
// when its header is in range; it reports whether it did.
func fixGPT(img []byte) bool {
	h := img[512:1024]
	if string(h[:8]) != gptSignature {
		return false
	}
	hsize := int(binary.LittleEndian.Uint32(h[12:]))
	lba, count, size := binary.LittleEndian.Uint64(h[72:]), uint64(binary.LittleEndian.Uint32(h[80:])), uint64(binary.LittleEndian.Uint32(h[84:]))
	if hsize < gptHeaderMin || hsize > len(h) || lba >= uint64(len(img)/512) || size > maxEntryBytes || count > maxEntryBytes {
		return false
	}
	if end := lba*512 + count*size; end <= uint64(len(img)) {
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(img[lba*512:end]))
	}
	clear(h[16:20])
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:hsize]))
	return true
}
