package backupstore

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseBackup: any bytes parse or fail with ErrInvalidConfig-family
// errors, never panic; a parsed backup survives a marshal round trip.
func FuzzParseBackup(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParseBackup (small cfgs in Longhorn's form;
	// the fixture cfgs are restored in package restore's tests).
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBackup(data, CompressionLZ4)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrUnsupportedCompression) {
				t.Fatalf("error outside the sentinels: %v", err)
			}
			return
		}
		out, err := MarshalBackup(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseBackup(out, CompressionLZ4); err != nil {
			t.Fatalf("re-parse of a marshalled backup: %v", err)
		}
	})
}

// FuzzParseVolume: volume.cfg parsing never panics.
func FuzzParseVolume(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParseVolume.
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVolume(data)
		if err == nil && (v.Size <= 0 || ValidateName("volume", v.Name) != nil) {
			t.Fatalf("accepted %+v", v)
		}
	})
}

// FuzzDecode: decompressing arbitrary bytes as any method never panics and
// never accepts content that does not hash to the checksum.
func FuzzDecode(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzDecode holds this block encoded each way, a
	// truncated lz4 frame and an unknown method.
	block := bytes.Repeat([]byte("longhorn block!!"), 4096) // 64 KiB
	want := Checksum(block)
	f.Fuzz(func(t *testing.T, method string, src []byte) {
		var d Decoder
		dst := make([]byte, len(block))
		err := d.Decode(Compression(method), src, dst, want)
		if err == nil && !bytes.Equal(dst, block) {
			t.Fatalf("accepted wrong content")
		}
	})
}
