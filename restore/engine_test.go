package restore

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/snaprestore/snaprestore/test/testenv"
)

const fixtures = "testdata/longhorn-backupstore"

func fixtureStore(t *testing.T, folder string) *Store {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join(fixtures, folder))
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore("file://"+abs, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRestoreFixtures(t *testing.T) {
	t.Parallel()
	for _, c := range testenv.Cases(t, filepath.Join(fixtures, "CASES")) {
		t.Run(c.Folder+"/"+c.Backup, func(t *testing.T) {
			t.Parallel()
			st := fixtureStore(t, c.Folder)
			target := filepath.Join(t.TempDir(), "image")
			sum, err := Restore(context.Background(), st.Store, c.Volume, c.Backup, target, Options{})
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if got := testenv.FileSHA256(t, target); got != c.SHA256 {
				t.Errorf("sha256 = %s; want %s (Longhorn's restore)", got, c.SHA256)
			}
			if _, err := os.Stat(target + RecordSuffix); !os.IsNotExist(err) {
				t.Errorf("progress record left after a complete restore: %v", err)
			}
			if sum.Blocks == 0 || sum.Objects == 0 {
				t.Errorf("summary %+v: no blocks", sum)
			}
			rep, err := Verify(context.Background(), st.Store, c.Volume, c.Backup, VerifyOptions{})
			if err != nil || !rep.OK() {
				t.Errorf("Verify = %+v, %v; want no problems", rep.Problems, err)
			}
		})
	}
}

// TestIncrementalFixtureChain restores lz4-chain's first backup, then moves
// the image forward backup by backup with IncrementalFrom; each step must give
// Longhorn's image of that backup.
func TestIncrementalFixtureChain(t *testing.T) {
	t.Parallel()
	want := map[string]string{}
	for _, c := range testenv.Cases(t, filepath.Join(fixtures, "CASES")) {
		want[c.Backup] = c.SHA256
	}
	st := fixtureStore(t, "lz4-chain")
	target := filepath.Join(t.TempDir(), "image")
	ctx := context.Background()
	chain := []string{"backup-7f3a9c21d4e85b60", "backup-1c0e4b2f9a7d6835", "backup-a94d0f6e2b1c7358"}
	if _, err := Restore(ctx, st.Store, "vol-lz4", chain[0], target, Options{}); err != nil {
		t.Fatal(err)
	}
	wantBlocks := []int{0, 2, 1} // backup 2: block 1 rewritten, block 12 added; backup 3: block 3 rewritten
	for i := 1; i < len(chain); i++ {
		sum, err := Restore(ctx, st.Store, "vol-lz4", chain[i], target, Options{IncrementalFrom: chain[i-1]})
		if err != nil {
			t.Fatalf("incremental %s: %v", chain[i], err)
		}
		if sum.Blocks != wantBlocks[i] {
			t.Errorf("incremental %s wrote %d blocks; want %d", chain[i], sum.Blocks, wantBlocks[i])
		}
		if got := testenv.FileSHA256(t, target); got != want[chain[i]] {
			t.Errorf("after incremental %s: sha256 %s; want %s", chain[i], got, want[chain[i]])
		}
	}
	// Backwards: from backup 3 to backup 1 zeroes block 12, which backup 1 lacks.
	sum, err := Restore(ctx, st.Store, "vol-lz4", chain[0], target, Options{IncrementalFrom: chain[2]})
	if err != nil {
		t.Fatal(err)
	}
	if sum.ZeroedBytes != 2<<20 {
		t.Errorf("zeroed %d bytes; want one 2 MiB block", sum.ZeroedBytes)
	}
	if got := testenv.FileSHA256(t, target); got != want[chain[0]] {
		t.Errorf("back to %s: sha256 %s; want %s", chain[0], got, want[chain[0]])
	}
}
