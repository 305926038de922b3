package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

// backupImage writes a backup of img into the file backupstore at dir and
// returns the backup's name.
func backupImage(t *testing.T, dir, volume, img string) string {
	t.Helper()
	st, err := restore.OpenStore("file://"+dir, restore.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := restore.WriteBackup(context.Background(), st, restore.BackupOptions{Volume: volume, Image: img})
	if err != nil {
		t.Fatalf("WriteBackup: %v", err)
	}
	return strings.TrimPrefix(sum.Backup, "bak://"+volume+"/")
}

// TestFilesGolden backs up an mkfs.ext4 -d image of the golden tree (full),
// adds a file with debugfs and backs it up again (incremental), then checks
// that restore --files of each backup reproduces its tree exactly.
func TestFilesGolden(t *testing.T) {
	t.Parallel()
	tree := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	fsreadtest.BuildTree(t, tree)
	want := fsreadtest.Snapshot(t, tree)
	img := fsreadtest.MakeExt4(t, tree, "256M")
	store := t.TempDir()
	full := backupImage(t, store, "vol-files", img)

	added := filepath.Join(t.TempDir(), "added.txt")
	if err := os.WriteFile(added, []byte("written after the full backup\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsreadtest.Run(t, "debugfs", "-w", "-R", "write "+added+" /added.txt", img)
	incr := backupImage(t, store, "vol-files", img)

	for _, c := range []struct{ backup, extra string }{{full, ""}, {incr, "added.txt"}} {
		out := filepath.Join(t.TempDir(), "out")
		stdout, err := runCLI(t, "restore", "vol-files/"+c.backup, "--backupstore", "file://"+store, "--files", "--to", out)
		if err != nil {
			t.Fatalf("restore --files %s: %v", c.backup, err)
		}
		if !strings.HasPrefix(stdout, "restored ") {
			t.Errorf("restore --files output %q; want a summary", stdout)
		}
		got := fsreadtest.Snapshot(t, out)
		delete(got, "lost+found")
		delete(got, ".")
		exp := map[string]fsreadtest.Node{}
		for k, v := range want {
			exp[k] = v
		}
		delete(exp, ".")
		if c.extra != "" {
			n, ok := got[c.extra]
			if !ok || n.SHA256 != fsreadtest.Snapshot(t, filepath.Dir(added))[filepath.Base(added)].SHA256 {
				t.Errorf("%s: %s missing or wrong in the incremental backup: %+v", c.backup, c.extra, n)
			}
			delete(got, c.extra)
		}
		if diff := cmp.Diff(exp, got); diff != "" {
			t.Errorf("restore --files of %s differs from the tree (-tree +restored):\n%s", c.backup, diff)
		}
	}
}

// smallVolume backs up a small image with known content and returns the
// reference and the --backupstore flag.
func smallVolume(t *testing.T) (ref, store, img string) {
	t.Helper()
	tree := t.TempDir()
	for name, data := range map[string]string{
		"etc/app/config.yaml": "port: 8080\n",
		"data/big.bin":        strings.Repeat("0123456789abcdef", 256<<10), // 4 MiB
		"data/small.txt":      "small\n",
	} {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../etc/app/config.yaml", filepath.Join(tree, "data/config")); err != nil {
		t.Fatal(err)
	}
	img = fsreadtest.MakeExt4(t, tree, "64M")
	dir := t.TempDir()
	return "vol-small/" + backupImage(t, dir, "vol-small", img), dir, img
}

func TestFilesCommands(t *testing.T) {
	t.Parallel()
	ref, dir, _ := smallVolume(t)
	bs := "--backupstore=file://" + dir
	handle := "bak://" + ref
	out, err := runCLI(t, "files", "ls", ref, "/data", bs)
	if err != nil || out != "big.bin\nconfig\nsmall.txt\n" {
		t.Errorf("files ls /data = %q, %v", out, err)
	}
	out, err = runCLI(t, "files", "ls", ref, "/data", "-l", bs)
	if err != nil || !strings.Contains(out, "lrwxrwxrwx 1 0 0      22 ") || !strings.Contains(out, " config -> ../etc/app/config.yaml\n") ||
		!strings.Contains(out, "-rw-r--r-- 1 0 0 4194304 ") {
		t.Errorf("files ls -l /data =\n%s%v", out, err)
	}
	out, err = runCLI(t, "files", "ls", ref, "/", "-R", bs)
	if err != nil || !strings.Contains(out, "/etc/app/config.yaml\n") {
		t.Errorf("files ls -R / =\n%s%v", out, err)
	}
	out, err = runCLI(t, "files", "ls", ref, "/etc/app", "-o", "json", bs)
	var ents []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &ents) != nil || len(ents) != 1 || ents[0]["path"] != "/etc/app/config.yaml" || ents[0]["mode"] != "-rw-r--r--" {
		t.Errorf("files ls -o json = %s, %v", out, err)
	}
	if out, err = runCLI(t, "files", "cat", ref, "/etc/app/config.yaml", bs); err != nil || out != "port: 8080\n" {
		t.Errorf("files cat = %q, %v", out, err)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"files", "cat", ref, "/etc/nope", bs}, "no such file or directory: /etc/nope in " + handle},
		{[]string{"files", "ls", ref, "nope/x", bs}, "no such file or directory: nope/x in " + handle},
		{[]string{"files", "cat", ref, "/etc", bs}, "/etc in " + handle + " is a directory; expected a file"},
		{[]string{"files", "cp", ref, "/etc", t.TempDir(), bs}, "/etc in " + handle + " is a directory; add -r"},
		{[]string{"files", "cat", ref, "/etc", "--cache-size=-1", bs}, `invalid argument "-1" for "--cache-size" flag`},
		{[]string{"files", "ls", ref, "--partition=1", bs}, "partition"},
		{[]string{"files", "ls", "vol-small/backup-nope", bs}, "backup-nope"},
	} {
		_, err := runCLI(t, c.args...)
		if exitCode(err) != 1 || !strings.Contains(fmt.Sprint(err), c.msg) {
			t.Errorf("%v: exit %d, %v; want exit 1 and %q", c.args[:3], exitCode(err), err, c.msg)
		}
	}
	dest := t.TempDir()
	if _, err := runCLI(t, "files", "cp", ref, "/data/small.txt", "/etc/app/config.yaml", dest, bs); err != nil {
		t.Fatalf("files cp two files: %v", err)
	}
	one := filepath.Join(t.TempDir(), "renamed.yaml")
	if _, err := runCLI(t, "files", "cp", ref, "/etc/app/config.yaml", one, bs); err != nil {
		t.Fatalf("files cp to a new name: %v", err)
	}
	tree := filepath.Join(t.TempDir(), "data")
	if _, err := runCLI(t, "files", "cp", ref, "/data", tree, "-r", bs); err != nil {
		t.Fatalf("files cp -r: %v", err)
	}
	for p, want := range map[string]string{filepath.Join(dest, "small.txt"): "small\n", filepath.Join(dest, "config.yaml"): "port: 8080\n",
		one: "port: 8080\n", filepath.Join(tree, "small.txt"): "small\n"} {
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(tree, "config")); err != nil || target != "../etc/app/config.yaml" {
		t.Errorf("copied symlink = %q, %v", target, err)
	}
	if _, err := runCLI(t, "files", "cp", ref, "/etc/app/config.yaml", one, bs); exitCode(err) != 1 || !strings.Contains(err.Error(), "already exists; expected a path that does not exist") {
		t.Errorf("files cp over an existing file: %v; want a refusal", err)
	}
}

// TestFilesCorruptBlock flips a byte in the block object holding a file's
// data: files cat of that file fails naming the block offset, the files in
// intact blocks still read.
func TestFilesCorruptBlock(t *testing.T) {
	t.Parallel()
	ref, dir, img := smallVolume(t)
	bs := "--backupstore=file://" + dir
	// Where the file's blocks are, by debugfs ("bmap FILE N" prints a block
	// number). Its 4 MiB are contiguous, so the 2 MiB backup block holding
	// its middle holds nothing else (no directory, no other file).
	bmap := func(n int) int64 {
		blk, err := strconv.ParseInt(strings.TrimSpace(fsreadtest.Debugfs(t, img, fmt.Sprintf("bmap /data/big.bin %d", n))), 10, 64)
		if err != nil {
			t.Fatalf("debugfs bmap: %v", err)
		}
		return blk
	}
	if first, last := bmap(0), bmap(1023); last-first != 1023 {
		t.Fatalf("big.bin is not contiguous (blocks %d..%d); the test needs it to be", first, last)
	}
	volOff := bmap(512) * 4096 / (2 << 20) * (2 << 20)
	cfg, err := os.ReadFile(filepath.Join(dir, backupstore.BackupConfigPath("vol-small", strings.TrimPrefix(ref, "vol-small/"))))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Blocks []backupstore.Block `json:"Blocks"`
	}
	if err := json.Unmarshal(cfg, &b); err != nil {
		t.Fatal(err)
	}
	var obj string
	for _, blk := range b.Blocks {
		if blk.Offset == volOff {
			obj = filepath.Join(dir, backupstore.BlockPath("vol-small", blk.Checksum))
		}
	}
	data, err := os.ReadFile(obj)
	if err != nil {
		t.Fatalf("block object of offset %d: %v", volOff, err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(obj, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "files", "cat", ref, "/data/big.bin", bs)
	if want := fmt.Sprintf("block at offset %d", volOff); exitCode(err) != 1 || !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("files cat of the corrupt file: %v; want exit 1 naming %q", err, want)
	}
	var out bytes.Buffer
	for _, p := range []string{"/data/small.txt", "/etc/app/config.yaml"} {
		s, err := runCLI(t, "files", "cat", ref, p, bs)
		if err != nil {
			t.Errorf("files cat %s (intact blocks): %v", p, err)
		}
		out.WriteString(s)
	}
	if out.String() != "small\nport: 8080\n" {
		t.Errorf("intact files read %q", out.String())
	}
}

// TestFilesPartition reads the ext4 filesystem in partition 2 of a GPT disk
// (a KubeVirt VM disk on Longhorn); without --partition the table is named.
func TestFilesPartition(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "hostname"), []byte("vm-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsImg, err := os.ReadFile(fsreadtest.MakeExt4(t, tree, "8M"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fsreadtest.Tool(t, "sfdisk"), "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=2048, size=2M, type=U\nsize=8M, type=L, name=\"root\"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	disk, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	copy(disk[3<<20:], fsImg) // partition 2 starts after partition 1 (1-3 MiB)
	if err := os.WriteFile(img, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	ref := "vm-disk/" + backupImage(t, store, "vm-disk", img)
	bs := "--backupstore=file://" + store
	if out, err := runCLI(t, "files", "cat", ref, "/hostname", "--partition", "2", bs); err != nil || out != "vm-1\n" {
		t.Errorf("files cat --partition 2 = %q, %v", out, err)
	}
	_, err = runCLI(t, "files", "ls", ref, bs)
	if want := `the volume holds a GPT partition table (magic "EFI PART" at byte 512), not a filesystem; select a partition with --partition N`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("files ls of a partitioned disk: %v; want %q", err, want)
	}
}
