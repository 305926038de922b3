package backupstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseBackingImage(t *testing.T) {
	c := strings.Repeat("a", 64)
	sum := strings.Repeat("b", 128)
	cases := []struct {
		name    string
		cfg     string
		want    *BackingImage
		wantErr string
	}{
		{name: "complete, as Longhorn writes it",
			cfg: `{"Name":"parrot","Size":"4194816","BlockCount":"2","Checksum":"` + sum + `","Labels":{"a":"b"},"CompressionMethod":"lz4",` +
				`"CreatedTime":"t0","CompleteTime":"t1","Secret":"","SecretNamespace":"","ProcessingBlocks":{"Blocks":{}},` +
				`"Blocks":[{"Offset":0,"BlockChecksum":"` + c + `"},{"Offset":4194304,"BlockChecksum":"` + c + `"}]}`,
			want: &BackingImage{Name: "parrot", Size: 4194816, BlockCount: 2, Checksum: sum, Labels: map[string]string{"a": "b"},
				CompressionMethod: CompressionLZ4, CreatedTime: "t0", CompleteTime: "t1",
				Blocks: []Block{{Offset: 0, Checksum: c}, {Offset: 4194304, Checksum: c}}}},
		{name: "no compression named: gzip", cfg: `{"Name":"p","Size":"512"}`,
			want: &BackingImage{Name: "p", Size: 512, CompressionMethod: CompressionGzip}},
		{name: "zero size", cfg: `{"Name":"p","Size":"0"}`,
			wantErr: `invalid backup config: Size "0"; expected a quoted decimal number of bytes`},
		{name: "short checksum", cfg: `{"Name":"p","Size":"512","Checksum":"abc"}`,
			wantErr: `invalid backup config: Checksum "abc"; expected empty or the SHA-512 of the image (128 lowercase hex characters)`},
		{name: "unaligned block", cfg: `{"Name":"p","Size":"4194304","Blocks":[{"Offset":512,"BlockChecksum":"` + c + `"}]}`,
			wantErr: "invalid backup config: Blocks[0].Offset 512; expected a non-negative multiple of the block size 2097152"},
		{name: "block past the end", cfg: `{"Name":"p","Size":"512","Blocks":[{"Offset":2097152,"BlockChecksum":"` + c + `"}]}`,
			wantErr: "invalid backup config: Blocks[0].Offset 2097152 lies beyond the image size 512"},
		{name: "escaping name", cfg: `{"Name":"../x","Size":"512"}`,
			wantErr: `invalid backup config: Name: invalid name: backing image name "../x"; expected letters, digits, '_', '.', '-' (not first)`},
		{name: "not JSON", cfg: `[`, wantErr: "invalid backup config: backing-image.cfg is not a JSON object: unexpected end of JSON input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBackingImage([]byte(tc.cfg))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("error\n got %v\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackingImagePaths(t *testing.T) {
	c := "0123" + strings.Repeat("a", 60)
	if got, want := BackingImageConfigPath("parrot"), "backupstore/backing-images/backing-images/parrot/backing-image.cfg"; got != want {
		t.Errorf("BackingImageConfigPath = %s; want %s", got, want)
	}
	if got, want := BackingImageBlockPath(c), "backupstore/backing-images/blocks/01/23/"+c+".blk"; got != want {
		t.Errorf("BackingImageBlockPath = %s; want %s", got, want)
	}
}
