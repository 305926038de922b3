package backupstore

import (
	"bytes"
	"errors"
	"maps"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParseBackup: any bytes parse or fail with ErrInvalidConfig-family
// errors, never panic; a parsed backup survives a marshal round trip unchanged.
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
		again, err := ParseBackup(out, CompressionLZ4)
		if err != nil {
			t.Fatalf("re-parse of a marshalled backup: %v", err)
		}
		// Marshal writes absent labels as {} and the effective block size as
		// backup-block-size (as Longhorn does): the round trip equals the parse with
		// those two made explicit.
		want := *b
		want.Parameters = maps.Clone(b.Parameters)
		if want.Parameters == nil {
			want.Parameters = map[string]string{}
		}
		want.Parameters["backup-block-size"] = strconv.FormatInt(b.BlockSize, 10)
		if diff := cmp.Diff(&want, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("marshal round trip changed the backup (-parsed +re-parsed):\n%s", diff)
		}
	})
}

// FuzzParseVolume: volume.cfg parsing never panics, fails only with the config
// sentinels, and accepts only a volume with a size and a valid name.
func FuzzParseVolume(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParseVolume.
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVolume(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrUnsupportedCompression) && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error outside the sentinels: %v", err)
			}
			return
		}
		if v.Size <= 0 || ValidateName("volume", v.Name) != nil {
			t.Fatalf("accepted %+v", v)
		}
	})
}

// FuzzDecode: decompressing arbitrary bytes as any method never panics, never
// accepts content that does not hash to the checksum, and fails only with the block
// sentinels (corrupt, checksum mismatch, unsupported compression).
func FuzzDecode(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzDecode holds this block encoded each way, a
	// truncated lz4 frame and an unknown method.
	block := bytes.Repeat([]byte("longhorn block!!"), 4096) // 64 KiB
	want := Checksum(block)
	f.Fuzz(func(t *testing.T, method string, src []byte) {
		var d Decoder
		dst := make([]byte, len(block))
		err := d.Decode(Compression(method), src, dst, want)
		switch {
		case err == nil && !bytes.Equal(dst, block):
			t.Fatalf("accepted wrong content")
		case err != nil && !errors.Is(err, ErrCorruptBlock) && !errors.Is(err, ErrChecksumMismatch) && !errors.Is(err, ErrUnsupportedCompression):
			t.Fatalf("error outside the sentinels: %v", err)
		}
	})
}

// FuzzParseBackingImage: backing-image.cfg parsing never panics, fails only
// with the config sentinels, and a parsed cfg survives a marshal round trip.
func FuzzParseBackingImage(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParseBackingImage (cfgs in Longhorn's form).
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBackingImage(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrUnsupportedCompression) {
				t.Fatalf("error outside the sentinels: %v", err)
			}
			return
		}
		out, err := MarshalBackingImage(b)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseBackingImage(out)
		if err != nil {
			t.Fatalf("re-parse of a marshalled backing image: %v", err)
		}
		if diff := cmp.Diff(b, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("marshal round trip changed the backing image (-parsed +re-parsed):\n%s", diff)
		}
	})
}
