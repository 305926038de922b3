package fsread

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

// TestNanosecondsAndOwnerWarning: mtimes with nanoseconds (set with debugfs,
// as mkfs -d stores whole seconds) survive Lstat and Extract; extracting
// without restoring owners warns once, however many files it concerns.
func TestNanosecondsAndOwnerWarning(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(tree, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(tree, n), 4321, 4321); err != nil && os.Geteuid() == 0 {
			t.Fatal(err)
		}
	}
	img := fsreadtest.MakeExt4(t, tree, "8M")
	const nsec = 123456789
	fsreadtest.Run(t, "debugfs", "-w", "-R", "sif /a mtime_extra "+strconv.Itoa(nsec<<2), img)
	fsys := openImage(t, img)
	e, err := fsys.Lstat("/a")
	if err != nil {
		t.Fatal(err)
	}
	if e.Mtime.Nanosecond() != nsec {
		t.Errorf("Lstat mtime %v; want %d ns", e.Mtime, nsec)
	}
	no := false
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Extract(context.Background(), fsys, "/", out, ExtractOptions{Owner: &no})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(out, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(e.Mtime) {
		t.Errorf("extracted mtime %v; want %v", st.ModTime().Format(time.RFC3339Nano), e.Mtime.Format(time.RFC3339Nano))
	}
	if os.Geteuid() == 0 {
		var owners int
		for _, w := range sum.Warnings {
			if strings.HasPrefix(w, "ownership not restored") {
				owners++
			}
		}
		if owners != 1 {
			t.Errorf("warnings %q; want exactly one about ownership", sum.Warnings)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != uint32(os.Geteuid()) {
			t.Errorf("owner %d with Owner=false; want the caller's %d", uid, os.Geteuid())
		}
	}
}
