package restore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// TestResolve pins the sentinels Resolve answers with: the webhook's pre-flight and the
// CLI both classify them, so each must be distinguishable with errors.Is / errors.As.
func TestResolve(t *testing.T) {
	t.Parallel()
	root := copyFixture(t, "lz4-chain")
	editFile(t, filepath.Join(root, lz4Dir, "backups", "backup_backup-1c0e4b2f9a7d6835.cfg"),
		replaceIn(`"CreatedTime":"2026-11-23T22:21:42Z"`, `"CreatedTime":""`))
	st, err := OpenStore("file://"+root, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		ref       Reference
		sentinel  error // nil: resolves
		available []string
		content   bool // IsStoreContent
	}{
		{name: "completed", ref: Reference{Volume: lz4Vol, Backup: lz4Full}},
		{name: "volume missing", ref: Reference{Volume: "vol-none", Backup: lz4Full}, sentinel: backupstore.ErrVolumeNotFound},
		{name: "backup missing, completed ones listed", ref: Reference{Volume: lz4Vol, Backup: "backup-nope"},
			sentinel:  backupstore.ErrBackupNotFound,
			available: []string{"bak://vol-lz4/backup-a94d0f6e2b1c7358", "bak://vol-lz4/backup-7f3a9c21d4e85b60"}},
		{name: "in progress", ref: Reference{Volume: lz4Vol, Backup: "backup-1c0e4b2f9a7d6835"}, sentinel: backupstore.ErrInProgress},
		{name: "bad name", ref: Reference{Volume: "../x", Backup: lz4Full}, sentinel: backupstore.ErrInvalidName, content: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, err := Resolve(context.Background(), st.Store, c.ref)
			if c.sentinel == nil {
				if err != nil {
					t.Fatalf("Resolve(%+v): %v", c.ref, err)
				}
				if r.Ref.Handle() != c.ref.Handle() || r.Volume.Size != 64<<20 || r.Backup.Name != c.ref.Backup {
					t.Errorf("Resolve(%+v) = %s, volume size %d, backup %q", c.ref, r.Ref.Handle(), r.Volume.Size, r.Backup.Name)
				}
				return
			}
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("Resolve(%+v) error %v; expected one wrapping %v", c.ref, err, c.sentinel)
			}
			if got := IsStoreContent(err); got != c.content {
				t.Errorf("IsStoreContent(%v) = %v, want %v", err, got, c.content)
			}
			var missing *MissingBackupError
			if errors.As(err, &missing) != (c.available != nil) {
				t.Fatalf("Resolve(%+v) error %T; MissingBackupError expected: %v", c.ref, err, c.available != nil)
			}
			if missing != nil {
				if diff := cmp.Diff(c.available, missing.Available); diff != "" || missing.ListErr != nil {
					t.Errorf("available backups (-want +got):\n%s\nlist error: %v", diff, missing.ListErr)
				}
			}
		})
	}
}
