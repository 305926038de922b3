package fsread

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

func withBytes(size int, at int, magic string) []byte {
	b := make([]byte, size)
	copy(b[at:], magic)
	return b
}

// TestDetect names what an image holds; Open refuses all but ext2/3/4 with
// a message naming the magic and its offset.
func TestDetect(t *testing.T) {
	t.Parallel()
	xfs := filepath.Join(t.TempDir(), "xfs.img")
	if err := os.WriteFile(xfs, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(xfs, 300<<20); err != nil {
		t.Fatal(err)
	}
	fsreadtest.Run(t, "mkfs.xfs", "-q", "-f", xfs)
	xfsBytes := make([]byte, 1<<20)
	if f, err := os.Open(xfs); err != nil {
		t.Fatal(err)
	} else if _, err := f.ReadAt(xfsBytes, 0); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	mbr := make([]byte, 1<<20)
	mbr[446+4], mbr[510], mbr[511] = 0x83, 0x55, 0xAA
	cases := []struct {
		name    string
		img     []byte
		want    Probe
		wantErr string
	}{
		{"zeros", make([]byte, 2<<20), Probe{Kind: KindZeros}, "no filesystem (the first 1 MiB reads as zeros)"},
		{"unknown", bytes.Repeat([]byte("junk"), 1<<18), Probe{Kind: KindUnknown}, "no known filesystem signature"},
		{"xfs", xfsBytes, Probe{Kind: KindXFS, Magic: `"XFSB"`, Offset: 0}, `xfs (magic "XFSB" at byte 0): not supported; restore the block image instead`},
		{"btrfs", withBytes(1<<20, 0x10040, "_BHRfS_M"), Probe{Kind: KindBtrfs, Magic: `"_BHRfS_M"`, Offset: 0x10040}, `btrfs (magic "_BHRfS_M" at byte 65600)`},
		{"LUKS", withBytes(1<<20, 0, "LUKS\xba\xbe"), Probe{Kind: KindLUKS, Magic: `"LUKS\xba\xbe"`, Offset: 0}, "LUKS (magic"},
		{"LVM2", withBytes(1<<20, 536, "LVM2 001"), Probe{Kind: KindLVM2, Magic: `"LVM2 001"`, Offset: 536}, "LVM2 (magic"},
		{"swap", withBytes(1<<20, 4086, "SWAPSPACE2"), Probe{Kind: KindSwap, Magic: `"SWAPSPACE2"`, Offset: 4086}, "swap (magic"},
		{"GPT", withBytes(1<<20, 512, "EFI PART"), Probe{Kind: KindGPT, Magic: `"EFI PART"`, Offset: 512}, "select a partition with --partition N"},
		{"MBR", mbr, Probe{Kind: KindMBR, Magic: "0x55AA", Offset: 510}, "select a partition with --partition N"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := bytes.NewReader(c.img)
			got, err := Detect(r, int64(len(c.img)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("Detect (-want +got):\n%s", diff)
			}
			_, err = Open(r, int64(len(c.img)))
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Open = %v; want ErrUnsupported containing %q", err, c.wantErr)
			}
			if c.name != "GPT" && c.name != "MBR" && c.name != "xfs" && !strings.Contains(err.Error(), "snaprestore nbd") {
				t.Errorf("Open = %v; want a pointer at snaprestore nbd", err)
			}
		})
	}
}

// TestPathErrors: what ls/cat/cp report for a missing path, a directory
// read as a file and a file used as a directory.
func TestPathErrors(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tree, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	fsys := openImage(t, fsreadtest.MakeExt4(t, tree, "8M"))
	if _, err := fsys.Lstat("/missing/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat(missing) = %v; want fs.ErrNotExist", err)
	}
	if _, err := fsys.Open("/dir"); !errors.Is(err, ErrIsDir) {
		t.Errorf("Open(dir) = %v; want ErrIsDir", err)
	}
	if _, err := fsys.ReadDir("/file"); !errors.Is(err, ErrNotDir) {
		t.Errorf("ReadDir(file) = %v; want ErrNotDir", err)
	}
	if _, err := fsys.Lstat("/file/x"); !errors.Is(err, ErrNotDir) {
		t.Errorf("Lstat(file/x) = %v; want ErrNotDir", err)
	}
	if e, err := fsys.Lstat("/../../file"); err != nil || e.Path != "/file" {
		t.Errorf("Lstat(/../../file) = %+v, %v; want /file (.. stops at the root)", e, err)
	}
	if got := fsys.UsedBytes(); got <= 0 || got > 8<<20 {
		t.Errorf("UsedBytes = %d; want between 0 and the 8 MiB image", got)
	}
}
