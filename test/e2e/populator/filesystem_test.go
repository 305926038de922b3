package populator

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
	"github.com/snaprestore/snaprestore/test/nodeagent"
)

// TestFilesystem restores the files of an ext4 image made here with mkfs.ext4
// -d (fsreadtest's golden tree: modes, owners, mtimes, symlinks, hard links,
// a sparse file, xattrs) and backed up with snaprestore backup into a
// Filesystem PVC, and compares every path with the tree.
func TestFilesystem(t *testing.T) {
	t.Parallel()
	tree := filepath.Join(t.TempDir(), "tree")
	fsreadtest.BuildTree(t, tree)
	img := fsreadtest.MakeExt4(t, tree, "256M")
	if out, err := exec.Command(binary, "backup", "--backupstore", store, "--volume", "vol-ext4", "--from", img, "--backup", "backup-files").CombinedOutput(); err != nil {
		t.Fatalf("snaprestore backup: %v\n%s", err, out)
	}
	ns := namespace(t, "filesystem")
	// The files use far less than the 256 MiB volume: Filesystem mode needs room for them only.
	applyMode(t, ns, "restored", "bak://vol-ext4/backup-files", nodeagent.ImmediateClass, "128Mi", "", "Filesystem")
	volume := waitBound(t, ns, "restored")
	dir, err := agent.PVPath(context.Background(), volume)
	if err != nil {
		t.Fatal(err)
	}
	want, got := fsreadtest.Snapshot(t, tree), fsreadtest.Snapshot(t, dir)
	// The volume's root directory is the PV's own (made by the provisioner).
	delete(want, ".")
	delete(got, ".")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files in the populated volume (-tree +volume):\n%s", diff)
	}
}
