package fsread

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

// resumeImage is an ext4 image of the golden tree and the summary of one
// full Extract of it, which a resumed Extract must add up to.
func resumeImage(t *testing.T) (*FS, map[string]fsreadtest.Node, ExtractSummary) {
	t.Helper()
	tree, want := goldenTree(t)
	fsys := openImage(t, fsreadtest.MakeExt4(t, tree, "256M"))
	full, err := Extract(context.Background(), fsys, "/", t.TempDir(), ExtractOptions{})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	return fsys, want, full
}

func sameTree(t *testing.T, want map[string]fsreadtest.Node, dir string) {
	t.Helper()
	if diff := cmp.Diff(withoutRootTime(want), withoutRootTime(withoutLostFound(fsreadtest.Snapshot(t, dir)))); diff != "" {
		t.Errorf("resumed tree differs (-tree +resumed):\n%s", diff)
	}
}

// TestExtractResumeAfterCancel interrupts an Extract after some entries
// (the context cancelled from Progress, as a killed pod stops), then
// extracts again into the same directory: without Resume the existing
// files are refused as before, with Resume the tree is completed, the files
// already written are kept and only the rest is written.
func TestExtractResumeAfterCancel(t *testing.T) {
	t.Parallel()
	fsys, want, full := resumeImage(t)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const stopAfter = 1500 // entries, about half of the tree
	_, err := Extract(ctx, fsys, "/", out, ExtractOptions{Progress: func(p ExtractProgress) {
		if p.Files >= stopAfter {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Extract = %v; want context.Canceled", err)
	}
	if _, err := Extract(context.Background(), fsys, "/", out, ExtractOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Extract over the partial copy without Resume = %v; want an error matching fs.ErrExist", err)
	}
	var last ExtractProgress
	sum, err := Extract(context.Background(), fsys, "/", out, ExtractOptions{Resume: true, Progress: func(p ExtractProgress) { last = p }})
	if err != nil {
		t.Fatalf("Extract with Resume: %v", err)
	}
	sameTree(t, want, out)
	if sum.Skipped == 0 || sum.Files == 0 || sum.Skipped+sum.Files != full.Files {
		t.Errorf("resumed summary %d written + %d skipped files; want both > 0 and %d in all", sum.Files, sum.Skipped, full.Files)
	}
	if sum.Bytes >= full.Bytes {
		t.Errorf("resumed Extract wrote %d bytes; want less than the full %d", sum.Bytes, full.Bytes)
	}
	if sum.HardLinks != full.HardLinks || sum.Symlinks != full.Symlinks || sum.Special != full.Special {
		t.Errorf("resumed summary %+v; want the links and specials of the full one %+v", sum, full)
	}
	if last.Files != sum.Files+sum.Skipped+sum.Dirs+sum.Symlinks+sum.HardLinks+sum.Special {
		t.Errorf("last progress counts %d entries; want the kept files too, %d", last.Files, sum.Files+sum.Skipped+sum.Dirs+sum.Symlinks+sum.HardLinks+sum.Special)
	}
}

// TestExtractResumeRepairs damages a complete Extract the ways an
// interruption or a planted entry can, and checks Resume rewrites exactly
// the damaged files, replaces planted symlinks without following them and
// restores the hard link, the fifo and the directories' modes.
func TestExtractResumeRepairs(t *testing.T) {
	t.Parallel()
	fsys, want, full := resumeImage(t)
	out := t.TempDir()
	if _, err := Extract(context.Background(), fsys, "/", out, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(victim, []byte("outside DEST\n"), 0o644))
	p := func(rel string) string { return filepath.Join(out, rel) }

	// A partial file: its length differs, its mtime is already the source's.
	fi, err := os.Stat(p("block-plus-one"))
	must(err)
	must(os.Truncate(p("block-plus-one"), 100))
	must(os.Chtimes(p("block-plus-one"), fi.ModTime(), fi.ModTime()))
	// Same length, other content and mtime.
	fi, err = os.Stat(p("small/f005.txt"))
	must(err)
	must(os.WriteFile(p("small/f005.txt"), bytes.Repeat([]byte("X"), int(fi.Size())), 0o644))
	// Symlinks planted in place of a file and of a directory, to outside.
	must(os.Remove(p("readonly.txt")))
	must(os.Symlink(victim, p("readonly.txt")))
	must(os.Chmod(p("ro-dir"), 0o755))
	must(os.RemoveAll(p("ro-dir")))
	must(os.Symlink(outside, p("ro-dir")))
	// A hard link broken into a copy with the same metadata.
	must(os.Remove(p("links/second.txt")))
	must(os.WriteFile(p("links/second.txt"), []byte("one inode, three names\n"), 0o644))
	orig, err := os.Lstat(p("links/original.txt"))
	must(err)
	must(os.Chtimes(p("links/second.txt"), orig.ModTime(), orig.ModTime()))
	// A regular file where the fifo was, a file where a directory was.
	must(os.Remove(p("fifo")))
	must(os.WriteFile(p("fifo"), []byte("not a fifo"), 0o640))
	must(os.RemoveAll(p("sticky")))
	must(os.WriteFile(p("sticky"), nil, 0o644))

	sum, err := Extract(context.Background(), fsys, "/", out, ExtractOptions{Resume: true})
	if err != nil {
		t.Fatalf("Extract with Resume: %v", err)
	}
	sameTree(t, want, out)
	// block-plus-one, small/f005.txt, readonly.txt, ro-dir/inside.txt and
	// sticky/.keep are written again; links/second.txt is either relinked or,
	// when it is the name Extract writes first, kept (its metadata matches)
	// and the other names linked to it.
	const damaged = 5
	if sum.Files != damaged || sum.Skipped != full.Files-damaged {
		t.Errorf("resumed summary %d written + %d skipped files; want %d written, %d skipped", sum.Files, sum.Skipped, damaged, full.Files-damaged)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "outside DEST\n" {
		t.Errorf("the planted symlink's target outside DEST is %q, %v; want it untouched", b, err)
	}
	if ents, err := os.ReadDir(outside); err != nil || len(ents) != 1 {
		t.Errorf("outside DEST holds %v, %v; want only the victim file", ents, err)
	}
}
