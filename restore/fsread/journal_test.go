package fsread

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

// TestJournalReplay writes a file's new content through the journal with
// debugfs (jo/jw/jc: committed, not checkpointed, needs_recovery set, as in
// a backup of a mounted filesystem): Open must read the journal's copy.
func TestJournalReplay(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "f.txt"), []byte("old content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := fsreadtest.MakeExt4(t, tree, "16M")
	blk := strings.TrimSpace(fsreadtest.Debugfs(t, img, "bmap /f.txt 0"))
	newBlock := filepath.Join(t.TempDir(), "block")
	content := append([]byte("new content\n"), make([]byte, 4096-12)...)
	if err := os.WriteFile(newBlock, content, 0o644); err != nil {
		t.Fatal(err)
	}
	cmds := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(cmds, []byte("jo\njw -b "+blk+" "+newBlock+"\njc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsreadtest.Run(t, "debugfs", "-w", "-f", cmds, img)
	if raw := fsreadtest.Debugfs(t, img, "cat /f.txt"); raw != "old content\n" {
		t.Fatalf("the image itself reads %q; the test needs the write to be in the journal only", raw)
	}
	fsys := openImage(t, img)
	if !fsys.NeedsRecovery() || fsys.ReplayedBlocks() != 1 {
		t.Errorf("NeedsRecovery %v, ReplayedBlocks %d; want true, 1", fsys.NeedsRecovery(), fsys.ReplayedBlocks())
	}
	f, err := fsys.Open("/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, []byte("new content\n")) {
		t.Errorf("read %q, %v; want the journal's copy %q", got, err, "new content\n")
	}
}
