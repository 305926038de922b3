package populator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

// filesBackup backs up a small ext4 image of a tree made here (files, a
// directory, a symlink, a hard link) into a file:// store and returns the
// store's URL, the backup handle and the tree.
func filesBackup(t *testing.T) (store, handle, tree string) {
	t.Helper()
	tree = filepath.Join(t.TempDir(), "tree")
	for i := range 60 {
		p := filepath.Join(tree, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%02d.txt", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat(fmt.Sprintf("file %d\n", i), 100*i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("d0/f00.txt", filepath.Join(tree, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(tree, "d1", "f01.txt"), filepath.Join(tree, "hard")); err != nil {
		t.Fatal(err)
	}
	img := fsreadtest.MakeExt4(t, tree, "16M")
	dir := t.TempDir()
	st, err := restore.OpenStore("file://"+dir, restore.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := restore.WriteBackup(context.Background(), st, restore.BackupOptions{Volume: "vol-files", Image: img, Backup: "backup-files"})
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + dir, sum.Backup, tree
}

// TestPopulateFilesResumes: a Filesystem populate stopped midway (its
// context cancelled, as a killed pod stops) leaves the marker; the next
// populate keeps the files already copied, says so, and leaves the tree
// complete and the marker gone. A volume with other content and no marker
// is refused.
func TestPopulateFilesResumes(t *testing.T) {
	t.Parallel()
	store, handle, tree := filesBackup(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := PopulateOptions{Backup: handle, Backupstore: store, Dir: dir, ResultFile: filepath.Join(t.TempDir(), "termination-log"),
		Getenv: func(string) string { return "" }}
	first := opts
	first.Progress = func(p restore.Progress) {
		if p.Blocks >= 30 {
			cancel()
		}
	}
	if _, err := Populate(ctx, first); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted populate = %v; want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, markerName)); err != nil {
		t.Fatalf("the interrupted populate left no marker: %v", err)
	}
	var logs []string
	opts.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	res, err := Populate(context.Background(), opts)
	if err != nil || !res.Succeeded {
		t.Fatalf("resumed populate = %+v, %v; want success", res, err)
	}
	t.Logf("resumed populate: %s", res.Message)
	if res.Resumed == 0 || !strings.Contains(res.Message, fmt.Sprintf(", resumed: %d files were already copied", res.Resumed)) {
		t.Errorf("result %+v; want files resumed and the message saying how many", res)
	}
	if len(logs) != 2 || !strings.HasPrefix(logs[0], "resuming the partial copy an interrupted populate left in ") ||
		!strings.HasPrefix(logs[1], fmt.Sprintf("resumed: %d of ", res.Resumed)) {
		t.Errorf("log %q; want the resume announced and counted", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, markerName)); !os.IsNotExist(err) {
		t.Errorf("marker after success: %v; want it removed", err)
	}
	want, got := fsreadtest.Snapshot(t, tree), fsreadtest.Snapshot(t, dir)
	delete(want, ".")
	delete(got, ".")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("populated files (-tree +volume):\n%s", diff)
	}
	// Complete and unmarked: the volume is no longer the populator's.
	if _, err := Populate(context.Background(), opts); !errors.Is(err, ErrTargetNotEmpty) || !Permanent(err) {
		t.Errorf("populate into a volume with files and no marker = %v; want a permanent ErrTargetNotEmpty", err)
	}
}
