package main

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

const fixtureRoot = "../../restore/testdata/longhorn-backupstore"

func storeURL(t *testing.T, folder string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join(fixtureRoot, folder))
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + abs
}

// runCLI runs the command tree in-process and returns stdout and the error
// (with its exit status when it carries one).
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

func TestBackupsTable(t *testing.T) {
	t.Parallel()
	out, err := runCLI(t, "backups", "--backupstore", storeURL(t, "lz4-chain"))
	if err != nil {
		t.Fatal(err)
	}
	want := `VOLUME   BACKUP                   STATE      CREATED               SIZE    HANDLE
vol-lz4  backup-a94d0f6e2b1c7358  completed  2026-11-23T22:21:44Z  64 MiB  bak://vol-lz4/backup-a94d0f6e2b1c7358
vol-lz4  backup-1c0e4b2f9a7d6835  completed  2026-11-23T22:21:42Z  64 MiB  bak://vol-lz4/backup-1c0e4b2f9a7d6835
vol-lz4  backup-7f3a9c21d4e85b60  completed  2026-11-23T22:21:40Z  64 MiB  bak://vol-lz4/backup-7f3a9c21d4e85b60
`
	if out != want {
		t.Errorf("backups output\n got:\n%s\nwant:\n%s", out, want)
	}
}

func TestRestoreVerifyCLI(t *testing.T) {
	t.Parallel()
	lz4 := storeURL(t, "lz4-chain")
	cases := []struct {
		name     string
		args     []string
		code     int
		contains string // in stdout, or in the error when code != 0
	}{
		{"restore bak handle", []string{"restore", "bak://vol-lz4/backup-1c0e4b2f9a7d6835", "--backupstore", lz4, "--to", "TARGET"},
			0, "restored bak://vol-lz4/backup-1c0e4b2f9a7d6835 to TARGET: 64 MiB volume, 8 blocks (16 MiB), 7 objects fetched, 14 MiB written in "},
		{"restore legacy bs handle", []string{"restore", "bs://vol-lz4/backup-7f3a9c21d4e85b60", "--backupstore", lz4, "--to", "TARGET"},
			0, "restored bak://vol-lz4/backup-7f3a9c21d4e85b60 to TARGET"},
		{"restore needs a backupstore", []string{"restore", "bak://vol-lz4/backup-7f3a9c21d4e85b60", "--to", "TARGET"},
			1, "--backupstore is required (file:///path, vfs:///path or s3://bucket@region/[path])"},
		{"restore needs a target", []string{"restore", "bak://vol-lz4/backup-7f3a9c21d4e85b60", "--backupstore", lz4},
			1, "--to is required: the file or block device to restore into"},
		{"restore of a missing backup", []string{"restore", "vol-lz4/backup-0000", "--backupstore", lz4, "--to", "TARGET"},
			1, "backup not found: bak://vol-lz4/backup-0000 (no backupstore/volumes/19/25/vol-lz4/backups/backup_backup-0000.cfg); " +
				"available backups (newest first): bak://vol-lz4/backup-a94d0f6e2b1c7358, bak://vol-lz4/backup-1c0e4b2f9a7d6835, bak://vol-lz4/backup-7f3a9c21d4e85b60"},
		// The reference's vfs:// with a trailing slash names the --backupstore given as
		// file:// (restore.SameBackupstore); before #12 the raw strings differed.
		{"verify a UI URL spelling the same store otherwise", []string{"verify",
			strings.Replace(lz4, "file://", "vfs://", 1) + "/?backup=backup-a94d0f6e2b1c7358&volume=vol-lz4", "--backupstore", lz4},
			0, "verified bak://vol-lz4/backup-a94d0f6e2b1c7358: 8 blocks"},
		{"verify a UI URL of another store", []string{"verify",
			"vfs:///elsewhere?backup=backup-a94d0f6e2b1c7358&volume=vol-lz4", "--backupstore", lz4},
			1, "the reference names backupstore vfs:///elsewhere but --backupstore is"},
		{"verify", []string{"verify", "vol-lz4/backup-a94d0f6e2b1c7358", "--backupstore", lz4},
			0, "verified bak://vol-lz4/backup-a94d0f6e2b1c7358: 8 blocks (16 MiB, 7 objects) intact in "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			target := filepath.Join(t.TempDir(), "image")
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "TARGET", target)
			}
			out, err := runCLI(t, args...)
			if got := exitCode(err); got != c.code {
				t.Fatalf("exit %d (%v); want %d", got, err, c.code)
			}
			text := out
			if err != nil {
				text = err.Error()
				if _, serr := os.Stat(target); serr == nil {
					t.Errorf("a failed restore left %s", target)
				}
			}
			want := strings.ReplaceAll(c.contains, "TARGET", target)
			if !strings.Contains(text, want) {
				t.Errorf("output %q; want it to contain %q", text, want)
			}
		})
	}
}

func TestVerifyReportsEveryProblem(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	src := filepath.Join(fixtureRoot, "gzip-single")
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(root, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(root, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	blocks := filepath.Join(root, "backupstore/volumes/8b/14/vol-gzip/blocks")
	os.Remove(filepath.Join(blocks, "27/fc/27fcb8a5e7aa642782f69015a96be64c52b28201c7954cd91d3f205de1dffbcb.blk"))
	os.WriteFile(filepath.Join(blocks, "99/d8/99d87b0895bf8599e11e55731d868182e20bb89392b3281eb88087484671e71a.blk"), []byte("this is not a gzip stream at all"), 0o644)

	out, err := runCLI(t, "verify", "bak://vol-gzip/backup-5b2e8d1f0c4a9367", "--backupstore", "file://"+root)
	if exitCode(err) != 1 {
		t.Fatalf("exit %d (%v); want 1", exitCode(err), err)
	}
	if want := "bak://vol-gzip/backup-5b2e8d1f0c4a9367: 2 of 4 block objects failed verification"; err.Error() != want {
		t.Errorf("error %q; want %q", err, want)
	}
	want := `problem: bak://vol-gzip/backup-5b2e8d1f0c4a9367: block at offset 0 (backupstore/volumes/8b/14/vol-gzip/blocks/27/fc/27fcb8a5e7aa642782f69015a96be64c52b28201c7954cd91d3f205de1dffbcb.blk): block missing
problem: bak://vol-gzip/backup-5b2e8d1f0c4a9367: block at offset 31457280 (backupstore/volumes/8b/14/vol-gzip/blocks/99/d8/99d87b0895bf8599e11e55731d868182e20bb89392b3281eb88087484671e71a.blk): corrupt block: gzip: invalid header
`
	if out != want {
		t.Errorf("verify output\n got:\n%s\nwant:\n%s", out, want)
	}
}

func TestBackupCLIRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img := filepath.Join(dir, "src.img")
	data := bytes.Repeat([]byte("snaprestore "), 1<<18) // 3 MiB
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	store := "file://" + filepath.Join(dir, "store")
	os.Mkdir(filepath.Join(dir, "store"), 0o755)
	out, err := runCLI(t, "backup", "--backupstore", store, "--volume", "vol-cli", "--from", img, "--backup", "backup-cli", "--compression", "gzip")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "backed up "+img+" to bak://vol-cli/backup-cli (full): 4 MiB volume, 2 blocks, 2 objects uploaded (") {
		t.Errorf("backup output %q", out)
	}
	target := filepath.Join(dir, "restored.img")
	if _, err := runCLI(t, "restore", "vol-cli/backup-cli", "--backupstore", store, "--to", target); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(target)
	want := append(bytes.Clone(data), make([]byte, 4<<20-len(data))...)
	if !bytes.Equal(got, want) {
		t.Errorf("restored image differs (len %d, want %d)", len(got), len(want))
	}
	if _, err := runCLI(t, "backup", "--backupstore", store, "--volume", "vol-cli", "--from", img, "--block-size", "4Mi"); err == nil ||
		err.Error() != `--block-size "4Mi"; expected 2Mi or 16Mi` {
		t.Errorf("bad block size error = %v", err)
	}
	// A name no handle can carry is refused before anything is written.
	if _, err := runCLI(t, "backup", "--backupstore", store, "--volume", "v", "--from", img); err == nil ||
		!strings.HasPrefix(err.Error(), `--volume "v", --backup "": "bak://v/backup-0123456789abcdef": volume name "v" must be 2 to 40 characters long (is 1)`) {
		t.Errorf("short volume name error = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "store", "backupstore", "volumes")); err != nil {
		t.Fatal(err) // vol-cli's backup is there
	}
	if out, err := runCLI(t, "backups", "--backupstore", store); err != nil || strings.Contains(out, "bak://v/") {
		t.Errorf("backups after a refused backup: %v\n%s", err, out)
	}
}

// TestRestoreBackingImageCLI: a backup of a volume on a backing image is refused
// without --backing-image (naming the image), restored with it, restored with the
// image's backup in the store instead, and bi:// restores that image alone.
func TestRestoreBackingImageCLI(t *testing.T) {
	t.Parallel()
	root, dir := t.TempDir(), t.TempDir()
	st, err := restore.OpenStore("file://"+root, restore.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base, top, want := filepath.Join(dir, "base.img"), filepath.Join(dir, "top.img"), filepath.Join(dir, "want.img")
	baseData := bytes.Repeat([]byte("base"), 1<<20) // 4 MiB
	topData := bytes.Repeat([]byte("top!"), 1<<19)  // 2 MiB written at 2 MiB
	volData := append(append(append([]byte{}, baseData[:2<<20]...), topData...), make([]byte, 4<<20)...)
	topImg := append(make([]byte, 2<<20), topData...)
	topImg = append(topImg, make([]byte, 4<<20)...)
	for p, d := range map[string][]byte{base: baseData, top: topImg, want: volData} {
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := restore.WriteBackup(context.Background(), st, restore.BackupOptions{Volume: "vol-bi", Image: top, Backup: "backup-bi"}); err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(baseData)
	testenv.EditVolumeConfig(t, root, "vol-bi", func(vol *backupstore.Volume) {
		vol.BackingImageName, vol.BackingImageChecksum = "bi-base", hex.EncodeToString(sum[:])
	})
	out := filepath.Join(t.TempDir(), "out.img")
	_, err = runCLI(t, "restore", "bak://vol-bi/backup-bi", "--backupstore", "file://"+root, "--to", out)
	if exitCode(err) != 1 || !strings.Contains(fmt.Sprint(err), `created from Longhorn backing image "bi-base" (volume.cfg BackingImageName)`) {
		t.Errorf("restore without --backing-image: exit %d, %v; want 1 naming the backing image", exitCode(err), err)
	}
	if _, err := runCLI(t, "restore", "bak://vol-bi/backup-bi", "--backupstore", "file://"+root, "--to", out, "--backing-image", base); err != nil {
		t.Fatalf("restore with --backing-image: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(volData)], volData) {
		t.Errorf("restored image differs from the base with the volume's writes on top")
	}

	// The image's own backup in the store (Longhorn's layout) is the base when
	// no --backing-image is given; a bi:// handle restores the image alone.
	writeBackingImageCLI(t, root, "bi-base", baseData, hex.EncodeToString(sum[:]))
	fromStore := filepath.Join(t.TempDir(), "from-store.img")
	if _, err := runCLI(t, "restore", "bak://vol-bi/backup-bi", "--backupstore", "file://"+root, "--to", fromStore); err != nil {
		t.Fatalf("restore with the backing image's backup in the store: %v", err)
	}
	if got, err = os.ReadFile(fromStore); err != nil || !bytes.Equal(got, volData) {
		t.Errorf("restore with the base from the store: %d bytes (%v), differing from the base with the volume's writes on top", len(got), err)
	}
	image := filepath.Join(t.TempDir(), "bi-base.raw")
	stdout, err := runCLI(t, "restore", "bi://backing?backingImage=bi-base&backingImageDataSourceType=download", "--backupstore", "file://"+root, "--to", image)
	if err != nil {
		t.Fatalf("restore bi://: %v", err)
	}
	if got, err = os.ReadFile(image); err != nil || !bytes.Equal(got, baseData) {
		t.Errorf("restore bi://: %d bytes (%v), differing from the backing image", len(got), err)
	}
	if !strings.Contains(stdout, "restored backing image bi-base to "+image) {
		t.Errorf("restore bi:// printed %q; want it to name the image and the target", stdout)
	}
	_, err = runCLI(t, "restore", "bi://backing?backingImage=bi-base&backingImageDataSourceType=download", "--backupstore", "file://"+root, "--to", image, "--resume")
	if exitCode(err) != 1 || !strings.Contains(fmt.Sprint(err), "a bi:// handle restores the backing image's own backup") {
		t.Errorf("restore bi:// --resume: exit %d, %v; want 1 refusing the flag", exitCode(err), err)
	}
}

// writeBackingImageCLI writes a backing image backup in Longhorn's layout: lz4
// blocks of 2 MiB under backing-images/blocks and backing-image.cfg.
func writeBackingImageCLI(t *testing.T, root, name string, data []byte, checksum string) {
	t.Helper()
	bi := &backupstore.BackingImage{Name: name, Size: int64(len(data)), Checksum: checksum,
		CompressionMethod: backupstore.CompressionLZ4, CreatedTime: "2026-01-02T03:04:05Z", CompleteTime: "2026-01-02T03:05:05Z"}
	put := func(key string, b []byte) {
		p := filepath.Join(root, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var enc backupstore.Encoder
	var obj bytes.Buffer
	for off := int64(0); off < bi.Size; off += backupstore.BackingImageBlockSize {
		blk := data[off:min(off+backupstore.BackingImageBlockSize, bi.Size)]
		c := backupstore.Checksum(blk)
		if err := enc.Encode(bi.CompressionMethod, blk, &obj); err != nil {
			t.Fatal(err)
		}
		put(backupstore.BackingImageBlockPath(c), obj.Bytes())
		bi.Blocks = append(bi.Blocks, backupstore.Block{Offset: off, Checksum: c})
	}
	cfg, err := backupstore.MarshalBackingImage(bi)
	if err != nil {
		t.Fatal(err)
	}
	put(backupstore.BackingImageConfigPath(name), cfg)
}

// The plain progress lines count blocks of a total for an image, and files
// for a Filesystem copy, which has no total of them.
func TestProgressLines(t *testing.T) {
	for _, c := range []struct {
		files bool
		pr    restore.Progress
		want  string
	}{
		{false, restore.Progress{Blocks: 3, TotalBlocks: 8, Bytes: 3 << 20, TotalBytes: 8 << 20}, "restore: 37% (3/8 blocks, 3 MiB of 8 MiB, "},
		{true, restore.Progress{Blocks: 240, Bytes: 58 << 20, TotalBytes: 578 << 20}, "restore: 10% (240 files, 58 MiB of 578 MiB, "},
	} {
		var out bytes.Buffer
		p := newProgressPrinter(&out, "restore")
		p.files = c.files
		p.update(c.pr)
		if !strings.HasPrefix(out.String(), c.want) {
			t.Errorf("files=%v: progress line %q; want it to start %q", c.files, out.String(), c.want)
		}
	}
}
