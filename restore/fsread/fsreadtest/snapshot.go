package fsreadtest

import (
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// Node is what the golden comparison checks of one path.
type Node struct {
	Mode   string // os.FileMode.String()
	UID    uint32
	GID    uint32
	Size   int64 // regular files only
	SHA256 string
	Mtime  int64 // Unix seconds
	Target string
	Link   string // the first path (in sorted order) with the same inode, for hard links
	Xattrs map[string]string
}

// Snapshot describes every path under dir, dir itself as ".". Directory
// sizes and lost+found (mkfs's own) are left out.
func Snapshot(t testing.TB, dir string) map[string]Node {
	t.Helper()
	out := map[string]Node{}
	var paths []string
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	firstOf := map[uint64]string{}
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		if rel == "lost+found" {
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		n := Node{Mode: fi.Mode().String(), UID: st.Uid, GID: st.Gid, Mtime: fi.ModTime().Unix()}
		switch {
		case fi.Mode().IsRegular():
			n.Size, n.SHA256 = fi.Size(), testenv.FileSHA256(t, p)
			if st.Nlink > 1 {
				if first, ok := firstOf[st.Ino]; ok {
					n.Link = first
				} else {
					firstOf[st.Ino] = rel
				}
			}
		case fi.Mode()&os.ModeSymlink != 0:
			n.Target, _ = os.Readlink(p)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			n.Xattrs = userXattrs(t, p)
		}
		out[rel] = n
	}
	return out
}

func userXattrs(t testing.TB, p string) map[string]string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return nil
	}
	out := map[string]string{}
	for _, name := range splitNames(buf[:n]) {
		if len(name) < 5 || name[:5] != "user." {
			continue
		}
		v := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(v[:m])
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func splitNames(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}
