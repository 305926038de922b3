package backupstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const fixtureVol = "../testdata/longhorn-backupstore/lz4-chain/backupstore/volumes/19/25/vol-lz4"

func TestParseVolumeFixture(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(fixtureVol, "volume.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVolume(data)
	if err != nil {
		t.Fatal(err)
	}
	v.Labels = nil
	want := &Volume{Name: "vol-lz4", Size: 64 << 20, CreatedTime: "2026-11-23T22:21:38Z",
		LastBackupName: "backup-a94d0f6e2b1c7358", LastBackupAt: "2025-03-03T10:00:00Z", BlockCount: 9,
		CompressionMethod: CompressionLZ4, StorageClassName: "longhorn", DataEngine: "v1"}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("ParseVolume (-want +got):\n%s", diff)
	}
	if VolumeDir("vol-lz4") != "backupstore/volumes/19/25/vol-lz4" {
		t.Errorf("VolumeDir = %s", VolumeDir("vol-lz4"))
	}
}

func TestParseVolumeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		sentinel error
		msg      string
	}{
		{"garbled", `{"Name":`, ErrInvalidConfig, "invalid backup config: volume.cfg is not a JSON object: unexpected end of JSON input"},
		{"size not a number", `{"Name":"v","Size":"12x"}`, ErrInvalidConfig, `invalid backup config: Size "12x"; expected a quoted decimal number of bytes`},
		{"size missing", `{"Name":"v"}`, ErrInvalidConfig, `invalid backup config: Size ""; expected a quoted decimal number of bytes`},
		{"bad name", `{"Name":"../v","Size":"2097152"}`, ErrInvalidName, `invalid backup config: Name: invalid name: volume name "../v"; expected letters, digits, '_', '.', '-' (not first)`},
		{"compression", `{"Name":"v","Size":"2097152","CompressionMethod":"\"zstd\""}`, ErrUnsupportedCompression, `volume.cfg CompressionMethod: unsupported compression method "zstd"; expected lz4, gzip or none`},
		{"bad quoting", `{"Name":"v","Size":"2097152","CompressionMethod":"\"lz4"}`, ErrInvalidConfig, `invalid backup config: CompressionMethod "\"lz4"; expected a JSON-encoded string`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseVolume([]byte(c.in))
			if !errors.Is(err, c.sentinel) || err.Error() != c.msg {
				t.Errorf("ParseVolume error = %q; want %q (%v)", err, c.msg, c.sentinel)
			}
		})
	}
}

func TestParseBackupDefaults(t *testing.T) {
	t.Parallel()
	// No CompressionMethod in either cfg means gzip; no block size means 2 MiB.
	b, err := ParseBackup([]byte(`{"Name":"b1","VolumeName":"v","CreatedTime":"","Blocks":[]}`), CompressionGzip)
	if err != nil {
		t.Fatal(err)
	}
	if b.CompressionMethod != CompressionGzip || b.BlockSize != BlockSize2Mi || !b.InProgress() {
		t.Errorf("defaults: %+v", b)
	}
	cases := []struct{ name, in, msg string }{
		{"unsorted", `{"Name":"b","VolumeName":"v","Blocks":[{"Offset":2097152,"BlockChecksum":"` + sum0 + `"},{"Offset":0,"BlockChecksum":"` + sum0 + `"}]}`,
			"invalid backup config: Blocks[1].Offset 0; expected offsets in ascending order without repeats"},
		{"unaligned", `{"Name":"b","VolumeName":"v","Blocks":[{"Offset":4096,"BlockChecksum":"` + sum0 + `"}]}`,
			"invalid backup config: Blocks[0].Offset 4096; expected a non-negative multiple of the block size 2097152"},
		{"block size", `{"Name":"b","VolumeName":"v","Parameters":{"backup-block-size":"4096"}}`,
			`invalid backup config: Parameters.backup-block-size "4096"; expected 2097152 or 16777216`},
		{"checksum", `{"Name":"b","VolumeName":"v","Blocks":[{"Offset":0,"BlockChecksum":"../x"}]}`,
			`invalid backup config: Blocks[0].BlockChecksum: invalid name: block checksum "../x"; expected 64 lowercase hex characters`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseBackup([]byte(c.in), CompressionLZ4)
			if !errors.Is(err, ErrInvalidConfig) || err.Error() != c.msg {
				t.Errorf("ParseBackup error = %q; want %q", err, c.msg)
			}
		})
	}
}

const sum0 = "0000000000000000000000000000000000000000000000000000000000000000"

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	v := &Volume{Name: "v", Size: 4 << 20, BlockCount: 2, CompressionMethod: CompressionLZ4, DataEngine: "v1", Labels: map[string]string{}}
	data, err := MarshalVolume(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseVolume(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v, got); diff != "" {
		t.Errorf("volume round trip (-want +got):\n%s", diff)
	}
	b := &Backup{Name: "b", VolumeName: "v", CreatedTime: "2026-01-01T00:00:00Z", Size: 2 << 20, CompressionMethod: CompressionNone,
		BlockSize: BlockSize16Mi, Blocks: []Block{{Offset: 16 << 20, Checksum: sum0}}, Labels: map[string]string{},
		Parameters: map[string]string{"backup-block-size": "16777216"}}
	data, err = MarshalBackup(b)
	if err != nil {
		t.Fatal(err)
	}
	gotB, err := ParseBackup(data, CompressionGzip)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, gotB); diff != "" {
		t.Errorf("backup round trip (-want +got):\n%s", diff)
	}
}

// TestParseBackupSingleFile: a single-file backup (SingleFile.FilePath) is not a
// volume's block map; restoring its empty map would silently produce zeros.
func TestParseBackupSingleFile(t *testing.T) {
	t.Parallel()
	data := []byte(`{"Name":"backup-1","VolumeName":"vol-a","CreatedTime":"2026-01-01T00:00:00Z","Size":"0","Blocks":[],"SingleFile":{"FilePath":"backupstore/backing-images/bi-a/bi-a.tar.gz"}}`)
	_, err := ParseBackup(data, CompressionLZ4)
	want := `unsupported backup: SingleFile.FilePath "backupstore/backing-images/bi-a/bi-a.tar.gz": a single-file backup, not a block backup of a volume; expected a cfg with a block map (Blocks)`
	if !errors.Is(err, ErrUnsupportedBackup) || err == nil || err.Error() != want {
		t.Errorf("ParseBackup error\n got %v\nwant %s", err, want)
	}
}
