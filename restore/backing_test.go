package restore

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// backingStore writes a backup of a volume on a backing image, as Longhorn makes
// one: the base image (8 MiB of data), the volume's own writes on top (the only
// blocks the backup holds), and volume.cfg naming the image and its SHA-512. It
// returns the store, the base image and the image the volume had.
func backingStore(t *testing.T, checksum bool) (st *Store, root, base, want string) {
	t.Helper()
	root = t.TempDir()
	st, err := OpenStore("file://"+root, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	top := filepath.Join(dir, "top.img")
	base, want = filepath.Join(dir, "base.img"), filepath.Join(dir, "volume.img")
	const size = 12 << 20
	writeImage(t, base, 8<<20, 1, map[int64]int{0: 8 << 20})
	// The volume's writes (one extent per call: writeImage's map has no order).
	for _, img := range []string{top, want} {
		if img == want {
			writeImage(t, want, size, 1, map[int64]int{0: 8 << 20}) // the volume: the base, then its writes
		}
		writeImage(t, img, size, 2, map[int64]int{2 << 20: 2 << 20})
		writeImage(t, img, size, 3, map[int64]int{10 << 20: 4096})
	}
	ctx := context.Background()
	if _, err := WriteBackup(ctx, st, BackupOptions{Volume: "vol-bi", Image: top, Backup: "backup-bi"}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(root, backupstore.VolumeConfigPath("vol-bi"))
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := backupstore.ParseVolume(data)
	if err != nil {
		t.Fatal(err)
	}
	vol.BackingImageName = "bi-ubuntu"
	if checksum {
		vol.BackingImageChecksum = sha512File(t, base)
	}
	if data, err = backupstore.MarshalVolume(vol); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return st, root, base, want
}

func sha512File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(data)
	return hex.EncodeToString(sum[:])
}

func TestRestoreBackingImage(t *testing.T) {
	t.Parallel()
	st, _, base, want := backingStore(t, true)
	other := filepath.Join(t.TempDir(), "other.img")
	writeImage(t, other, 8<<20, 3, map[int64]int{0: 8 << 20})
	ctx := context.Background()
	cases := []struct {
		name     string
		o        Options
		sentinel error
		wantErr  string
	}{
		{name: "the base laid down first", o: Options{BackingImage: base}},
		{name: "another image", o: Options{BackingImage: other}, sentinel: ErrBackingImageMismatch,
			wantErr: fmt.Sprintf(`--backing-image %s: backing image does not match: SHA-512 %s; expected %s (volume.cfg BackingImageChecksum of "bi-ubuntu")`,
				other, sha512File(t, other), sha512File(t, base))},
		{name: "with --resume", o: Options{BackingImage: base, Resume: true},
			wantErr: "--backing-image " + base + ": not supported with --resume or --incremental-from; expected a full restore (--force to start over)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "restored.img")
			_, err := Restore(ctx, st.Store, "vol-bi", "backup-bi", out, c.o)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Restore: %v", err)
				}
				if testenv.FileSHA256(t, out) != testenv.FileSHA256(t, want) {
					t.Errorf("restored image differs from the volume's (base plus its writes)")
				}
				return
			}
			if err == nil || err.Error() != c.wantErr || (c.sentinel != nil && !errors.Is(err, c.sentinel)) {
				t.Errorf("Restore error\n got %v\nwant %s (%v)", err, c.wantErr, c.sentinel)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused restore left %s", out)
			}
		})
	}
	t.Run("no checksum recorded: the base is laid down unchecked", func(t *testing.T) {
		t.Parallel()
		st, _, base, want := backingStore(t, false)
		out := filepath.Join(t.TempDir(), "restored.img")
		if _, err := Restore(ctx, st.Store, "vol-bi", "backup-bi", out, Options{BackingImage: base}); err != nil {
			t.Fatal(err)
		}
		if testenv.FileSHA256(t, out) != testenv.FileSHA256(t, want) {
			t.Errorf("restored image differs from the volume's")
		}
	})
	t.Run("a base for a volume without one", func(t *testing.T) {
		t.Parallel()
		plain := newFileStore(t)
		img := filepath.Join(t.TempDir(), "img")
		writeImage(t, img, 4<<20, 4, map[int64]int{0: 4096})
		if _, err := WriteBackup(ctx, plain, BackupOptions{Volume: "vol-plain", Image: img, Backup: "backup-1"}); err != nil {
			t.Fatal(err)
		}
		_, err := Restore(ctx, plain.Store, "vol-plain", "backup-1", filepath.Join(t.TempDir(), "out"), Options{BackingImage: base})
		want := "--backing-image " + base + `: volume "vol-plain" of bak://vol-plain/backup-1 has no backing image (volume.cfg BackingImageName is empty); expected no --backing-image`
		if err == nil || err.Error() != want {
			t.Errorf("Restore error\n got %v\nwant %s", err, want)
		}
	})
}

// TestReaderRefusesBackingImage: the lazy reader (nbd, files) has no base, so it
// refuses a backup of a volume on a backing image instead of reading zeros.
func TestReaderRefusesBackingImage(t *testing.T) {
	t.Parallel()
	st, _, _, _ := backingStore(t, true)
	_, err := OpenReader(context.Background(), st.Store, "vol-bi", "backup-bi", ReaderOptions{})
	if !errors.Is(err, ErrBackingImageRequired) {
		t.Errorf("OpenReader: %v; want %v", err, ErrBackingImageRequired)
	}
}
