package fsreadtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tree sizes: a directory of HashedEntries names is hashed (htree) after
// e2fsck -D; SparseSize is the length of the sparse file.
const (
	HashedEntries = 3000
	SmallFiles    = 200
	DeepLevels    = 40
	SparseSize    = 64 << 20
)

// Owned is the uid/gid some files get when the test runs as root.
const Owned = 1234

// BuildTree writes the golden tree into dir: many small files, a sparse file
// with data at its start, middle and end, deep directories, a hashed
// directory, symlinks (relative, absolute, dangling, escaping, longer than
// the inode's 60 bytes), hard links across directories, special modes, a
// fifo, fixed mtimes (whole seconds: mkfs.ext4 -d stores no nanoseconds)
// and user.* xattrs.
func BuildTree(t testing.TB, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel string, data []byte, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, data, mode))
		must(os.Chmod(p, mode))
	}
	for i := range SmallFiles {
		write(fmt.Sprintf("small/f%03d.txt", i), bytes.Repeat([]byte(fmt.Sprintf("small %d\n", i)), i%50+1), 0o644)
	}
	write("empty", nil, 0o644)
	write("block-exact", bytes.Repeat([]byte{0xA5}, 4096), 0o600)
	write("block-plus-one", bytes.Repeat([]byte{0x5A}, 4097), 0o640)
	write("setuid-bin", []byte("#!/bin/sh\necho hi\n"), 0o4755)
	write("readonly.txt", []byte("read only\n"), 0o444)
	write("ro-dir/inside.txt", []byte("inside a read-only directory\n"), 0o644)
	write("sticky/.keep", nil, 0o644)
	sparse := filepath.Join(dir, "sparse.img")
	f, err := os.Create(sparse)
	must(err)
	for _, off := range []int64{0, SparseSize / 2, SparseSize - 5000} {
		_, err = f.WriteAt(bytes.Repeat([]byte(fmt.Sprintf("data@%d;", off)), 1000)[:5000], off)
		must(err)
	}
	must(f.Truncate(SparseSize))
	must(f.Close())
	deep := "deep"
	for i := range DeepLevels {
		deep = filepath.Join(deep, fmt.Sprintf("d%02d", i))
	}
	write(filepath.Join(deep, "bottom.txt"), []byte("at the bottom\n"), 0o644)
	for i := range HashedEntries {
		write(fmt.Sprintf("hashed/entry-with-a-longer-name-%05d", i), []byte(fmt.Sprintf("%d\n", i)), 0o644)
	}
	write("links/original.txt", []byte("one inode, three names\n"), 0o644)
	must(os.Link(filepath.Join(dir, "links/original.txt"), filepath.Join(dir, "links/second.txt")))
	must(os.Link(filepath.Join(dir, "links/original.txt"), filepath.Join(dir, "small/third.txt")))
	for name, target := range map[string]string{
		"links/rel":      "original.txt",
		"links/abs":      "/etc/passwd",
		"links/dangling": "does/not/exist",
		"links/escape":   "../../../../etc/shadow",
		"links/dir":      "../small",
		"links/long":     strings.Repeat("long-target/", 10) + "end",
	} {
		must(os.Symlink(target, filepath.Join(dir, name)))
	}
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	must(unix.Setxattr(filepath.Join(dir, "small/f001.txt"), "user.comment", []byte("kept by mkfs -d"), 0))
	must(unix.Setxattr(filepath.Join(dir, "links/original.txt"), "user.checksum", []byte("sha256:abc"), 0))
	if os.Geteuid() == 0 {
		must(os.Lchown(filepath.Join(dir, "small/f002.txt"), Owned, Owned+1))
		must(os.Lchown(filepath.Join(dir, "links/rel"), Owned, Owned))
		must(os.Chown(filepath.Join(dir, "ro-dir"), Owned, Owned))
	}
	must(os.Chmod(filepath.Join(dir, "sticky"), 0o1777))
	must(os.Chmod(filepath.Join(dir, "ro-dir"), 0o555))
	setTimes(t, dir)
}

// setTimes gives every entry a distinct whole-second mtime, children first.
func setTimes(t testing.TB, dir string) {
	t.Helper()
	var paths []string
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		paths = append(paths, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC).Unix()
	for i := len(paths) - 1; i >= 0; i-- {
		ts := []unix.Timespec{{Sec: base + int64(i)*61}, {Sec: base + int64(i)*60}}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}
