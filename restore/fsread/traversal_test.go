package fsread

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

// craftedImage makes a small image of a tree with a directory
// "TTTTTTTTTTTT" (holding "victim"), a symlink "SSSSSSSSSSSS" to outside
// and a file "AAAAAAAAAAAA", then applies patch to the image bytes.
func craftedImage(t *testing.T, outside string, patch func(img []byte)) string {
	t.Helper()
	tree := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tree, "TTTTTTTTTTTT"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"TTTTTTTTTTTT/victim": "planted\n", "AAAAAAAAAAAA": "a file\n"} {
		if err := os.WriteFile(filepath.Join(tree, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(tree, "SSSSSSSSSSSS")); err != nil {
		t.Fatal(err)
	}
	img := fsreadtest.MakeExt4(t, tree, "8M")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	patch(b)
	if err := os.WriteFile(img, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return img
}

// rename replaces the one directory entry name old with repl (same length).
func rename(t *testing.T, old, repl string) func([]byte) {
	return func(img []byte) {
		i := bytes.Index(img, []byte(old))
		if i < 0 || bytes.Contains(img[i+1:], []byte(old)) {
			t.Fatalf("entry name %q found %d times in the image; expected once", old, bytes.Count(img, []byte(old)))
		}
		copy(img[i:], repl)
	}
}

// TestExtractNeverEscapes extracts hostile images: names with slashes, a
// directory entry that duplicates a symlink to outside DEST, and symlinks
// whose targets leave DEST. Nothing may appear outside DEST.
func TestExtractNeverEscapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		patch   func(t *testing.T) func([]byte)
		wantErr error // nil: extraction succeeds
		resume  bool  // ExtractOptions.Resume: an existing entry is replaced, never followed
	}{
		{"symlinks to outside are created, never followed", func(t *testing.T) func([]byte) { return func([]byte) {} }, nil, false},
		{"a name with slashes and dot-dot", func(t *testing.T) func([]byte) { return rename(t, "AAAAAAAAAAAA", "../../../esc") }, ErrUnsafePath, false},
		{"an absolute name", func(t *testing.T) func([]byte) { return rename(t, "AAAAAAAAAAAA", "/tmp/escaped") }, ErrUnsafePath, false},
		{"a directory named like the symlink to outside", func(t *testing.T) func([]byte) { return rename(t, "TTTTTTTTTTTT", "SSSSSSSSSSSS") }, fs.ErrExist, false},
		// The name resolves to the symlink in the image, so the directory's
		// listing fails; the symlink it replaced in DEST was never entered.
		{"Resume: a directory named like the symlink to outside", func(t *testing.T) func([]byte) { return rename(t, "TTTTTTTTTTTT", "SSSSSSSSSSSS") }, ErrNotDir, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			outside := t.TempDir()
			img := craftedImage(t, outside, c.patch(t))
			fsys := openImage(t, img)
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			_, err := Extract(context.Background(), fsys, "/", dest, ExtractOptions{Resume: c.resume})
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("Extract: %v", err)
			case c.wantErr != nil && !errors.Is(err, c.wantErr):
				t.Fatalf("Extract = %v; want an error matching %v", err, c.wantErr)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("Extract wrote outside DEST, into the symlink's target: %v", ents)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 1 {
				t.Errorf("Extract wrote next to DEST: %v", ents)
			}
			if _, err := os.Stat("/tmp/escaped"); err == nil {
				t.Errorf("Extract wrote /tmp/escaped")
			}
			if c.wantErr == nil && !c.resume {
				if got, err := os.Readlink(filepath.Join(dest, "SSSSSSSSSSSS")); err != nil || got != outside {
					t.Errorf("symlink = %q, %v; want a symlink to %s", got, err, outside)
				}
			}
		})
	}
}
