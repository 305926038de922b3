package fsread

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

var fuzzBase struct {
	once sync.Once
	img  []byte
}

// fuzzImage is a small ext4 image (1 KiB blocks, so metadata is dense)
// with files, a directory of 60 entries, symlinks, a hard link and xattrs.
func fuzzImage(t testing.TB) []byte {
	fuzzBase.once.Do(func() {
		tree := t.TempDir()
		for i := range 60 {
			p := filepath.Join(tree, "dir", fmt.Sprintf("entry-%02d", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, i*100), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, err := range []error{
			os.WriteFile(filepath.Join(tree, "big"), bytes.Repeat([]byte("big file "), 30000), 0o600),
			os.Symlink("dir/entry-01", filepath.Join(tree, "short-link")),
			os.Symlink(string(bytes.Repeat([]byte("x/"), 60)), filepath.Join(tree, "long-link")),
			os.Link(filepath.Join(tree, "big"), filepath.Join(tree, "big-again")),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		img := fsreadtest.MakeExt4(t, tree, "2M", "-b", "1024")
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		fuzzBase.img = b
	})
	if fuzzBase.img == nil {
		t.Fatal("no base image (see the first failure)")
	}
	return fuzzBase.img
}

// FuzzImage patches bytes of a small ext4 image and reads and extracts it:
// whatever the bytes, fsread returns an error or a result, never panics,
// never hangs, never writes outside the destination.
func FuzzImage(f *testing.F) {
	f.Add(uint32(1080), []byte{0, 0})            // superblock magic
	f.Add(uint32(1024+0x18), []byte{9, 0, 0, 0}) // block size
	f.Add(uint32(2048+8), []byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		base := fuzzImage(t)
		img := append([]byte(nil), base...)
		copy(img[int(off)%len(img):], patch)
		fsys, err := Open(bytes.NewReader(img), int64(len(img)))
		if errors.Is(err, errPanicked) {
			t.Fatalf("Open panicked: %v", err)
		}
		if err != nil {
			return
		}
		walkBounded(t, fsys, "/", 0, new(int))
		parent := t.TempDir()
		_, err = Extract(context.Background(), fsys, "/", filepath.Join(parent, "dest"), ExtractOptions{})
		if errors.Is(err, errPanicked) {
			t.Fatalf("Extract panicked: %v", err)
		}
		if ents, _ := os.ReadDir(parent); len(ents) > 1 {
			t.Fatalf("Extract wrote next to its destination: %v", ents)
		}
	})
}

func walkBounded(t *testing.T, fsys *FS, p string, depth int, seen *int) {
	ents, err := fsys.ReadDir(p)
	if errors.Is(err, errPanicked) {
		t.Fatalf("ReadDir(%s) panicked: %v", p, err)
	}
	for _, e := range ents {
		if *seen++; *seen > 5000 || depth > 64 {
			return
		}
		c := path.Join(p, e.Name)
		if _, err := fsys.Xattrs(c); errors.Is(err, errPanicked) {
			t.Fatalf("Xattrs(%s) panicked: %v", c, err)
		}
		switch {
		case e.Mode.IsDir():
			walkBounded(t, fsys, c, depth+1, seen)
		case e.Mode.IsRegular():
			fl, err := fsys.Open(c)
			if errors.Is(err, errPanicked) {
				t.Fatalf("Open(%s) panicked: %v", c, err)
			}
			if err == nil {
				buf := make([]byte, 64<<10)
				fl.ReadAt(buf, 0)
			}
		}
	}
}
