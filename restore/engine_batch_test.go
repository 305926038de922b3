package restore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/restore/internal/batchsha"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// blocksBackup writes a store in a new directory with backup-one of volume:
// an image of n distinct random 2 MiB blocks (seed), every one written, its
// path img.
func blocksBackup(t *testing.T, volume string, n int, seed uint64, c backupstore.Compression) (dir string, st *Store, img string) {
	t.Helper()
	const mi = 1 << 20
	dir = t.TempDir()
	st, err := OpenStore("file://"+dir, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img = filepath.Join(t.TempDir(), "src.img")
	extents := map[int64]int{}
	for i := range n {
		extents[int64(i)*2*mi] = 2 * mi
	}
	writeImage(t, img, int64(n)*2*mi, seed, extents)
	if _, err := WriteBackup(context.Background(), st, BackupOptions{Volume: volume, Image: img, Backup: "backup-one", Compression: c}); err != nil {
		t.Fatal(err)
	}
	return dir, st, img
}

// TestRestoreVerifiesEveryBlockConcurrently restores and verifies 20 distinct
// blocks with 16 workers, so that (in a build with vector hashing) their
// checksums are hashed together, and checks that one flipped byte still
// fails the restore and Verify at that block's offset, and only there.
func TestRestoreVerifiesEveryBlockConcurrently(t *testing.T) {
	t.Parallel()
	const mi = 1 << 20
	ctx := context.Background()
	dir, st, img := blocksBackup(t, "vol-batch", 20, 3, backupstore.CompressionNone)
	before := batchsha.Batches()
	out := filepath.Join(t.TempDir(), "restored.img")
	if _, err := Restore(ctx, st.Store, "vol-batch", "backup-one", out, Options{Concurrency: 16}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got, want := testenv.FileSHA256(t, out), testenv.FileSHA256(t, img); got != want {
		t.Fatalf("restored image differs from the source image")
	}
	t.Logf("vector hashing: %v; buffers hashed in batches during the restore (and parallel tests): %d", batchsha.Vectorized(), batchsha.Batches()-before)

	r, err := Resolve(ctx, st.Store, Reference{Volume: "vol-batch", Backup: "backup-one"})
	if err != nil {
		t.Fatal(err)
	}
	const bad = 26 * mi
	var key string
	for _, b := range r.Backup.Blocks {
		if b.Offset == bad {
			key = backupstore.BlockPath("vol-batch", b.Checksum)
		}
	}
	if key == "" {
		t.Fatalf("no block listed at offset %d", bad)
	}
	editFile(t, filepath.Join(dir, key), func(b []byte) []byte { b[12345] ^= 1; return b })

	_, err = Restore(ctx, st.Store, "vol-batch", "backup-one", filepath.Join(t.TempDir(), "damaged.img"), Options{Concurrency: 16})
	var be *backupstore.BlockError
	if !errors.Is(err, backupstore.ErrChecksumMismatch) || !errors.As(err, &be) || be.Offsets[0] != bad {
		t.Fatalf("Restore of a backup with one flipped byte at offset %d: %v; expected a checksum mismatch of that block", bad, err)
	}
	rep, err := Verify(ctx, st.Store, "vol-batch", "backup-one", VerifyOptions{Concurrency: 16})
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Offsets[0] != bad || !errors.Is(rep.Problems[0], backupstore.ErrChecksumMismatch) {
		t.Fatalf("Verify = %v, %v; expected one checksum mismatch at offset %d", rep.Problems, err, bad)
	}
}

// TestFetchSlots: a restore with 16 fetch slots announces one checksum per
// slot to the batcher, keeps them announced while more blocks remain than
// slots, withdraws one per fetch after that and the rest when the run stops
// early; with fewer slots than two batches it announces nothing.
func TestFetchSlots(t *testing.T) {
	t.Parallel()
	var expected int
	expect := func(n int) func() {
		expected += n
		return func() { expected-- }
	}
	f := newFetchSlots(16, 20, expect)
	if expected != 16 {
		t.Fatalf("16 slots, 20 blocks: %d announced, expected 16", expected)
	}
	for i := 1; i <= 20; i++ {
		f.fetched()
		if want := min(16, 20-i); expected != want {
			t.Fatalf("after %d of 20 fetches: %d announced, expected %d", i, expected, want)
		}
	}
	f.close()
	if expected != 0 {
		t.Fatalf("after close: %d announced, expected 0", expected)
	}

	f = newFetchSlots(16, 5, expect)
	if expected != 5 {
		t.Fatalf("16 slots, 5 blocks: %d announced, expected 5", expected)
	}
	f.fetched()
	f.close() // stopped by an error after one fetch
	if expected != 0 {
		t.Fatalf("closed after 1 of 5 fetches: %d announced, expected 0", expected)
	}

	f = newFetchSlots(minAnnouncedSlots-1, 100, expect)
	f.fetched()
	f.close()
	if expected != 0 {
		t.Fatalf("%d slots: %d announced, expected none", minAnnouncedSlots-1, expected)
	}
}
