package fsread

import (
	"io/fs"
	"testing"
)

func TestLsMode(t *testing.T) {
	t.Parallel()
	for m, want := range map[fs.FileMode]string{
		fs.ModeDir | 0o755:                    "drwxr-xr-x",
		fs.ModeSymlink | 0o777:                "lrwxrwxrwx",
		fs.ModeSetuid | 0o755:                 "-rwsr-xr-x",
		fs.ModeSetgid | 0o640:                 "-rw-r-S---",
		fs.ModeDir | fs.ModeSticky | 0o1777:   "drwxrwxrwt",
		fs.ModeNamedPipe | 0o600:              "prw-------",
		fs.ModeDevice | fs.ModeCharDevice | 0: "c---------",
	} {
		if got := lsMode(m); got != want {
			t.Errorf("lsMode(%v) = %s; want %s", m, got, want)
		}
	}
}
