package fsread

import (
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

var golden struct {
	once sync.Once
	dir  string
	snap map[string]fsreadtest.Node
}

// goldenTree builds the generated tree once per test binary.
func goldenTree(t *testing.T) (string, map[string]fsreadtest.Node) {
	t.Helper()
	golden.once.Do(func() {
		dir, err := os.MkdirTemp("", "fsread-golden-")
		if err != nil {
			t.Fatal(err)
		}
		golden.dir = filepath.Join(dir, "tree")
		if err := os.Mkdir(golden.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		fsreadtest.BuildTree(t, golden.dir)
		golden.snap = fsreadtest.Snapshot(t, golden.dir)
	})
	if golden.snap == nil {
		t.Fatal("the golden tree could not be built (see the first failing test)")
	}
	return golden.dir, golden.snap
}

func TestMain(m *testing.M) {
	code := m.Run()
	if golden.dir != "" {
		os.RemoveAll(filepath.Dir(golden.dir))
	}
	os.Exit(code)
}

func openImage(t *testing.T, img string) *FS {
	t.Helper()
	return openImageVia(t, img, func(f *os.File) io.ReaderAt { return f })
}

// openImageVia opens the filesystem in img read through via(the image file).
func openImageVia(t *testing.T, img string, via func(*os.File) io.ReaderAt) *FS {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := Open(via(f), st.Size())
	if err != nil {
		t.Fatalf("Open(%s): %v", img, err)
	}
	return fsys
}

// lender is a Slicer over an image file: it lends the bytes in pieces of at
// most 3000 bytes (so pieces cross every block and extent boundary) and
// overwrites each piece once fn returns, so a slice kept beyond fn shows.
type lender struct{ f *os.File }

func (l lender) ReadAt(p []byte, off int64) (int, error) { return l.f.ReadAt(p, off) }

func (l lender) Slices(off, n int64, fn func([]byte) error) error {
	buf := make([]byte, 3000)
	for n > 0 {
		p := buf[:min(n, int64(len(buf)))]
		if _, err := l.f.ReadAt(p, off); err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		for i := range p {
			p[i] = 0xaa
		}
		off, n = off+int64(len(p)), n-int64(len(p))
	}
	return nil
}

var mkfsVariants = []struct {
	name string
	args []string
	kind Kind
}{
	{"ext4", nil, KindExt4},
	{"ext4-inline-data", []string{"-O", "inline_data"}, KindExt4},
	{"ext3-block-maps", []string{"-t", "ext3"}, KindExt3},
	{"ext2", []string{"-t", "ext2"}, KindExt2},
}

// TestGolden reads and extracts mkfs.ext4 -d images of the generated tree:
// what Lstat/ReadDir/Open report and what Extract writes must equal the tree.
func TestGolden(t *testing.T) {
	t.Parallel()
	tree, want := goldenTree(t)
	for _, v := range mkfsVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			img := fsreadtest.MakeExt4(t, tree, "256M", v.args...)
			fsys := openImage(t, img)
			if got := fsys.Probe().Kind; got != v.kind {
				t.Errorf("Probe().Kind = %s; want %s", got, v.kind)
			}
			if diff := cmp.Diff(withoutRootTime(withoutData(want)), withoutRootTime(listTree(t, fsys))); diff != "" {
				t.Errorf("listing differs from the tree (-tree +listing):\n%s", diff)
			}
			out := t.TempDir()
			sum, err := Extract(context.Background(), fsys, "/", out, ExtractOptions{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if diff := cmp.Diff(withoutRootTime(want), withoutRootTime(withoutLostFound(fsreadtest.Snapshot(t, out)))); diff != "" {
				t.Errorf("extracted tree differs (-tree +extracted):\n%s", diff)
			}
			if sum.HardLinks != 2 || sum.Symlinks != 6 || sum.Special != 1 || sum.Files < fsreadtest.SmallFiles+fsreadtest.HashedEntries {
				t.Errorf("summary %+v; want 2 hard links, 6 symlinks, 1 fifo, at least %d files", sum, fsreadtest.SmallFiles+fsreadtest.HashedEntries)
			}
			if len(sum.Warnings) != 0 {
				t.Errorf("warnings %q; want none (running as root, user.* xattrs)", sum.Warnings)
			}
			// The same through a Slicer (as restore.Reader is): the data is
			// written from lent slices, not through a copy buffer.
			lent := t.TempDir()
			if _, err := Extract(context.Background(), openImageVia(t, img, func(f *os.File) io.ReaderAt { return lender{f} }), "/", lent, ExtractOptions{}); err != nil {
				t.Fatalf("Extract through a Slicer: %v", err)
			}
			if diff := cmp.Diff(withoutRootTime(want), withoutRootTime(withoutLostFound(fsreadtest.Snapshot(t, lent)))); diff != "" {
				t.Errorf("tree extracted through a Slicer differs (-tree +extracted):\n%s", diff)
			}
			crossCheck(t, img, v.kind)
			if inline := strings.Contains(fsreadtest.Debugfs(t, img, "stat /small/f000.txt"), "Size of inline data"); inline != (v.name == "ext4-inline-data") {
				t.Errorf("debugfs: /small/f000.txt inline=%v in the %s image", inline, v.name)
			}
		})
	}
}

// crossCheck asks debugfs what the image holds, so the golden test is known
// to cover hashed directories, xattrs, extents and block maps.
func crossCheck(t *testing.T, img string, kind Kind) {
	if st := fsreadtest.Debugfs(t, img, "stat /hashed"); kind != KindExt2 && !strings.Contains(st, "Flags: 0x81000") && !strings.Contains(st, "Flags: 0x1000") {
		t.Errorf("debugfs: /hashed is not an htree directory:\n%s", st)
	}
	if ea := fsreadtest.Debugfs(t, img, "ea_list /small/f001.txt"); !strings.Contains(ea, "user.comment") {
		t.Errorf("debugfs: mkfs -d did not carry the xattr:\n%s", ea)
	}
	st := fsreadtest.Debugfs(t, img, "stat /sparse.img")
	if extents := strings.Contains(st, "EXTENTS:"); extents != (kind == KindExt4) {
		t.Errorf("debugfs: /sparse.img extents=%v for %s:\n%s", extents, kind, st)
	}
}

// listTree walks fsys with ReadDir and Open into the Snapshot form.
func listTree(t *testing.T, fsys *FS) map[string]fsreadtest.Node {
	t.Helper()
	out := map[string]fsreadtest.Node{}
	firstOf := map[uint64]string{}
	var walk func(e Entry)
	walk = func(e Entry) {
		p := e.Path
		rel := strings.TrimPrefix(p, "/")
		if rel == "" {
			rel = "."
		}
		n := fsreadtest.Node{Mode: e.Mode.String(), UID: e.UID, GID: e.GID, Mtime: e.Mtime.Unix(), Target: e.Target}
		if e.Mode.IsRegular() {
			n.Size = e.Size
			if e.Nlink > 1 {
				if first, ok := firstOf[e.Ino]; ok {
					n.Link = first
				} else {
					firstOf[e.Ino] = rel
				}
			}
		}
		if e.Mode&os.ModeSymlink == 0 {
			x, err := fsys.Xattrs(p)
			if err != nil {
				t.Fatalf("Xattrs(%s): %v", p, err)
			}
			for k, v := range x {
				if strings.HasPrefix(k, "user.") {
					if n.Xattrs == nil {
						n.Xattrs = map[string]string{}
					}
					n.Xattrs[k] = string(v)
				}
			}
		}
		out[rel] = n
		if !e.Mode.IsDir() {
			return
		}
		ents, err := fsys.ReadDir(p)
		if err != nil {
			t.Fatalf("ReadDir(%s): %v", p, err)
		}
		for _, c := range ents {
			if p == "/" && c.Name == "lost+found" {
				continue
			}
			if c.Path != path.Join(p, c.Name) {
				t.Errorf("ReadDir(%s): entry %q has path %q", p, c.Name, c.Path)
			}
			walk(c)
		}
	}
	root, err := fsys.Lstat("/")
	if err != nil {
		t.Fatalf("Lstat(/): %v", err)
	}
	walk(root)
	return out
}

// withoutData drops what listTree does not compute (content hashes).
func withoutData(m map[string]fsreadtest.Node) map[string]fsreadtest.Node {
	out := make(map[string]fsreadtest.Node, len(m))
	for k, n := range m {
		n.SHA256 = ""
		out[k] = n
	}
	return out
}

func withoutLostFound(m map[string]fsreadtest.Node) map[string]fsreadtest.Node {
	delete(m, "lost+found")
	return m
}

// withoutRootTime drops the root's mtime: mkfs sets it when it adds lost+found.
func withoutRootTime(m map[string]fsreadtest.Node) map[string]fsreadtest.Node {
	out := make(map[string]fsreadtest.Node, len(m))
	for k, n := range m {
		if k == "." {
			n.Mtime = 0
		}
		out[k] = n
	}
	return out
}
