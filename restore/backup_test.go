package restore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/snaprestore/snaprestore/restore/backupstore"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// writeImage creates a sparse image of size bytes with pattern data written
// at each of the given offsets (len bytes each), deterministic per seed.
func writeImage(t testing.TB, path string, size int64, seed uint64, extents map[int64]int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	for off, n := range extents {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte('a' + r.IntN(8)) // moderately compressible
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
}

func newFileStore(t testing.TB) *Store {
	t.Helper()
	dir := t.TempDir()
	st, err := OpenStore("file://"+dir, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBackupRoundTrip(t *testing.T) {
	t.Parallel()
	const mi = 1 << 20
	for _, c := range []backupstore.Compression{backupstore.CompressionLZ4, backupstore.CompressionGzip, backupstore.CompressionNone} {
		for _, bs := range []int64{backupstore.BlockSize2Mi, backupstore.BlockSize16Mi} {
			t.Run(fmt.Sprintf("%s/%dMi", c, bs/mi), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				st := newFileStore(t)
				dir := t.TempDir()
				img := filepath.Join(dir, "v1.img")
				// 48 MiB volume (a multiple of both block sizes); an extent crosses a block, a repeated
				// extent checks deduplication.
				writeImage(t, img, 48*mi, 1, map[int64]int{0: 4096, 3*mi + 17: 100000, 20 * mi: 2 * mi, 47 * mi: mi})
				s1, err := WriteBackup(ctx, st, BackupOptions{Volume: "vol-rt", Image: img, Backup: "backup-one", Compression: c, BlockSize: bs})
				if err != nil {
					t.Fatalf("WriteBackup: %v", err)
				}
				if s1.Incremental || s1.Uploaded == 0 {
					t.Errorf("first backup summary %+v; want a full backup with uploads", s1)
				}
				out := filepath.Join(dir, "restored.img")
				if _, err := Restore(ctx, st.Store, "vol-rt", "backup-one", out, Options{}); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				if got, want := testenv.FileSHA256(t, out), testenv.FileSHA256(t, img); got != want {
					t.Errorf("restored image differs from the source image")
				}
				// Incremental: change one extent, zero another.
				writeImage(t, img, 48*mi, 2, map[int64]int{20 * mi: 4096})
				f, _ := os.OpenFile(img, os.O_RDWR, 0)
				f.WriteAt(make([]byte, mi), 47*mi)
				f.Close()
				s2, err := WriteBackup(ctx, st, BackupOptions{Volume: "vol-rt", Image: img, Backup: "backup-two", BlockSize: bs})
				if err != nil {
					t.Fatalf("WriteBackup incremental: %v", err)
				}
				if !s2.Incremental || s2.Reused == 0 {
					t.Errorf("incremental summary %+v; want reused blocks", s2)
				}
				if _, err := Restore(ctx, st.Store, "vol-rt", "backup-two", out, Options{IncrementalFrom: "backup-one"}); err != nil {
					t.Fatalf("incremental Restore: %v", err)
				}
				if got, want := testenv.FileSHA256(t, out), testenv.FileSHA256(t, img); got != want {
					t.Errorf("incrementally restored image differs from the source image")
				}
				full := filepath.Join(dir, "full.img")
				if _, err := Restore(ctx, st.Store, "vol-rt", "backup-two", full, Options{}); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				if got, want := testenv.FileSHA256(t, full), testenv.FileSHA256(t, img); got != want {
					t.Errorf("restored second backup differs from the source image")
				}
			})
		}
	}
}
