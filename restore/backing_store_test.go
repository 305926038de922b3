package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// writeBackingImageBackup writes the backup of backing image name as Longhorn's
// backupstore lays it out: the image cut into 2 MiB blocks (the last one
// shorter), all-zero blocks left out, each block compressed under
// backupstore/backing-images/blocks/<c[0:2]>/<c[2:4]>/<c>.blk, and
// backupstore/backing-images/backing-images/<name>/backing-image.cfg with the
// block map and checksum (the SHA-512 of the image file, or none when empty).
func writeBackingImageBackup(t *testing.T, root, name, image, checksum string, m backupstore.Compression) *backupstore.BackingImage {
	t.Helper()
	data, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	bi := &backupstore.BackingImage{Name: name, Size: int64(len(data)), Checksum: checksum, CompressionMethod: m,
		CreatedTime: "2026-01-02T03:04:05Z", CompleteTime: "2026-01-02T03:05:05Z"}
	var enc backupstore.Encoder
	var obj bytes.Buffer
	for off := int64(0); off < bi.Size; off += backupstore.BackingImageBlockSize {
		blk := data[off:min(off+backupstore.BackingImageBlockSize, bi.Size)]
		if isZero(blk) {
			continue
		}
		c := backupstore.Checksum(blk)
		if err := enc.Encode(m, blk, &obj); err != nil {
			t.Fatal(err)
		}
		writeObject(t, root, backupstore.BackingImageBlockPath(c), obj.Bytes())
		bi.Blocks = append(bi.Blocks, backupstore.Block{Offset: off, Checksum: c})
	}
	bi.BlockCount = int64(len(bi.Blocks))
	cfg, err := backupstore.MarshalBackingImage(bi)
	if err != nil {
		t.Fatal(err)
	}
	writeObject(t, root, backupstore.BackingImageConfigPath(name), cfg)
	return bi
}

func writeObject(t *testing.T, root, key string, data []byte) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreBackingImageFromStore: with no --backing-image FILE, the image's
// own backup in the store is laid down first, then the volume's blocks.
func TestRestoreBackingImageFromStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	other := filepath.Join(t.TempDir(), "other.img")
	writeImage(t, other, 8<<20, 3, map[int64]int{0: 8 << 20})
	cases := []struct {
		name     string
		volSum   bool // volume.cfg records BackingImageChecksum
		setup    func(t *testing.T, root, base string)
		sentinel error
		wantErr  func(root, base string) string
	}{
		{name: "laid down, checked against both checksums", volSum: true,
			setup: func(t *testing.T, root, base string) {
				writeBackingImageBackup(t, root, "bi-ubuntu", base, sha512File(t, base), backupstore.CompressionLZ4)
			}},
		{name: "gzip, no checksum anywhere",
			setup: func(t *testing.T, root, base string) {
				writeBackingImageBackup(t, root, "bi-ubuntu", base, "", backupstore.CompressionGzip)
			}},
		{name: "absent: refused naming the path looked for", volSum: true, sentinel: ErrBackingImageRequired,
			setup: func(*testing.T, string, string) {},
			wantErr: func(string, string) string {
				return `bak://vol-bi/backup-bi: backup needs its backing image: volume "vol-bi" was created from Longhorn backing image "bi-ubuntu" (volume.cfg BackingImageName) and the backup holds only what the volume wrote on top of it; ` +
					`expected the image file with --backing-image FILE (e.g. downloaded from Longhorn's backing image page); the store holds no backup of the image either (looked for backupstore/backing-images/backing-images/bi-ubuntu/backing-image.cfg)`
			}},
		{name: "another image under the name: volume.cfg checksum", volSum: true, sentinel: ErrBackingImageMismatch,
			setup: func(t *testing.T, root, _ string) {
				writeBackingImageBackup(t, root, "bi-ubuntu", other, "", backupstore.CompressionLZ4)
			},
			wantErr: func(_, base string) string {
				return fmt.Sprintf("backing image bi-ubuntu from the store: backing image does not match: SHA-512 %s; expected %s (volume.cfg BackingImageChecksum)",
					sha512File(t, other), sha512File(t, base))
			}},
		{name: "content not what its own cfg records", sentinel: ErrBackingImageMismatch,
			setup: func(t *testing.T, root, base string) {
				writeBackingImageBackup(t, root, "bi-ubuntu", other, sha512File(t, base), backupstore.CompressionLZ4)
			},
			wantErr: func(_, base string) string {
				return fmt.Sprintf("backing image bi-ubuntu from the store: backing image does not match: SHA-512 %s; expected %s (backupstore/backing-images/backing-images/bi-ubuntu/backing-image.cfg Checksum)",
					sha512File(t, other), sha512File(t, base))
			}},
		{name: "cfg checksum differs from volume.cfg's: refused before writing", volSum: true, sentinel: ErrBackingImageMismatch,
			setup: func(t *testing.T, root, _ string) {
				writeBackingImageBackup(t, root, "bi-ubuntu", other, sha512File(t, other), backupstore.CompressionLZ4)
			},
			wantErr: func(_, base string) string {
				return fmt.Sprintf("bak://vol-bi/backup-bi: backing image does not match: backing image \"bi-ubuntu\" in the store (backupstore/backing-images/backing-images/bi-ubuntu/backing-image.cfg) has Checksum %s; expected %s (volume.cfg BackingImageChecksum)",
					sha512File(t, other), sha512File(t, base))
			}},
		{name: "the image's backup still in progress", volSum: true, sentinel: ErrBackingImageRequired,
			setup: func(t *testing.T, root, base string) {
				bi := writeBackingImageBackup(t, root, "bi-ubuntu", base, "", backupstore.CompressionLZ4)
				bi.CompleteTime = ""
				cfg, err := backupstore.MarshalBackingImage(bi)
				if err != nil {
					t.Fatal(err)
				}
				writeObject(t, root, backupstore.BackingImageConfigPath("bi-ubuntu"), cfg)
			},
			wantErr: func(string, string) string {
				return `bak://vol-bi/backup-bi: backup needs its backing image: the backup of backing image "bi-ubuntu" is still in progress (backupstore/backing-images/backing-images/bi-ubuntu/backing-image.cfg has no CompleteTime); expected a completed backup or --backing-image FILE`
			}},
		{name: "a corrupt block", volSum: true, sentinel: backupstore.ErrChecksumMismatch,
			setup: func(t *testing.T, root, base string) {
				bi := writeBackingImageBackup(t, root, "bi-ubuntu", base, sha512File(t, base), backupstore.CompressionNone)
				p := filepath.Join(root, backupstore.BackingImageBlockPath(bi.Blocks[1].Checksum))
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				data[100] ^= 0xff
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: func(string, string) string {
				return "backing image bi-ubuntu: block at offset 2097152 (backupstore/backing-images/blocks/"
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, root, base, want := backingStore(t, c.volSum)
			c.setup(t, root, base)
			out := filepath.Join(t.TempDir(), "restored.img")
			sum, err := Restore(ctx, st.Store, "vol-bi", "backup-bi", out, Options{})
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("Restore: %v", err)
				}
				if testenv.FileSHA256(t, out) != testenv.FileSHA256(t, want) {
					t.Errorf("restored image differs from the volume's (base plus its writes)")
				}
				if sum.Written < 8<<20 {
					t.Errorf("Summary.Written %d; expected at least the 8 MiB base", sum.Written)
				}
				return
			}
			w := c.wantErr(root, base)
			if err == nil || !strings.HasPrefix(err.Error(), w) || !errors.Is(err, c.sentinel) {
				t.Errorf("Restore error\n got %v\nwant %s... (%v)", err, w, c.sentinel)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed restore left %s", out)
			}
		})
	}
	t.Run("with --resume and --force", func(t *testing.T) {
		// The populator always asks to resume with Force: a volume on a
		// backing image is then restored in full, base first.
		t.Parallel()
		st, root, base, want := backingStore(t, true)
		writeBackingImageBackup(t, root, "bi-ubuntu", base, "", backupstore.CompressionLZ4)
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Restore(ctx, st.Store, "vol-bi", "backup-bi", out, Options{Resume: true, Force: true}); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if testenv.FileSHA256(t, out) != testenv.FileSHA256(t, want) {
			t.Errorf("restored image differs from the volume's (base plus its writes)")
		}
	})
	t.Run("with --resume", func(t *testing.T) {
		t.Parallel()
		st, root, base, _ := backingStore(t, true)
		writeBackingImageBackup(t, root, "bi-ubuntu", base, "", backupstore.CompressionLZ4)
		_, err := Restore(ctx, st.Store, "vol-bi", "backup-bi", filepath.Join(t.TempDir(), "out"), Options{Resume: true})
		want := `bak://vol-bi/backup-bi: backing image "bi-ubuntu" from the store: not supported with --resume or --incremental-from; expected a full restore (--force to start over)`
		if err == nil || err.Error() != want {
			t.Errorf("Restore error\n got %v\nwant %s", err, want)
		}
	})
}

// TestRestoreBackingImageItself: bi:// restores the image file alone, holes
// and a short last block included, also over a used file with --force.
func TestRestoreBackingImageItself(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newFileStore(t)
	root := strings.TrimPrefix(st.URL, "file://")
	img := filepath.Join(t.TempDir(), "image.raw")
	const size = 5<<20 + 512
	writeImage(t, img, size, 5, map[int64]int{0: 4096, 4 << 20: 1<<20 + 512})
	writeBackingImageBackup(t, root, "parrot", img, sha512File(t, img), backupstore.CompressionLZ4)
	out := filepath.Join(t.TempDir(), "parrot.raw")
	if _, err := RestoreBackingImage(ctx, st.Store, "parrot", out, Options{}); err != nil {
		t.Fatal(err)
	}
	if sha512File(t, out) != sha512File(t, img) {
		t.Errorf("restored backing image differs from the original")
	}
	used := filepath.Join(t.TempDir(), "used.raw")
	writeImage(t, used, 8<<20, 9, map[int64]int{0: 8 << 20})
	if _, err := RestoreBackingImage(ctx, st.Store, "parrot", used, Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(used)
	if err != nil {
		t.Fatal(err)
	}
	wantData, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantData) {
		t.Errorf("--force over a used file: %d bytes, differing from the %d-byte image", len(got), len(wantData))
	}
	_, err = RestoreBackingImage(ctx, st.Store, "nope", filepath.Join(t.TempDir(), "x"), Options{})
	if !errors.Is(err, backupstore.ErrBackingImageNotFound) || !strings.Contains(err.Error(), "backupstore/backing-images/backing-images/nope/backing-image.cfg") {
		t.Errorf("missing image: %v; want %v naming the cfg path", err, backupstore.ErrBackingImageNotFound)
	}
}
