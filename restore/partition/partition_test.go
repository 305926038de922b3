package partition

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tool finds a Debian tool, in /usr/sbin too (root's tools are there); a
// missing tool fails the test (hack/test-deps.sh installs it).
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	t.Fatalf("%s not found; install it with hack/test-deps.sh (Debian package for %s)", name, name)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// partitioned writes a sparse image of size bytes and partitions it with
// sfdisk's script; it returns the image and sfdisk's own JSON listing.
func partitioned(t *testing.T, size int64, script string) (string, []Partition) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	sfdisk := tool(t, "sfdisk")
	cmd := exec.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	out, err := exec.Command(sfdisk, "-J", img).Output()
	if err != nil {
		t.Fatalf("sfdisk -J: %v", err)
	}
	var doc struct {
		PartitionTable struct {
			Label      string
			SectorSize int64
			Partitions []struct {
				Node        string
				Start, Size int64
				Type, UUID  string
				Name        string
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	pt := doc.PartitionTable
	var want []Partition
	for _, p := range pt.Partitions {
		n, _ := strconv.Atoi(strings.TrimPrefix(p.Node, img))
		w := Partition{Number: n, Start: p.Start * pt.SectorSize, Size: p.Size * pt.SectorSize, Name: p.Name, GUID: p.UUID}
		if pt.Label == "dos" {
			b, _ := strconv.ParseUint(p.Type, 16, 8)
			if isExtended(byte(b)) {
				continue // a container, not listed
			}
			w.Scheme, w.Type = "mbr", fmt.Sprintf("0x%02x", b)
		} else {
			w.Scheme, w.Type = "gpt", p.Type
		}
		want = append(want, w)
	}
	return img, want
}

// typeCode drops the " (name)" List adds to a type.
func typeCode(ps []Partition) []Partition {
	out := append([]Partition(nil), ps...)
	for i := range out {
		out[i].Type, _, _ = strings.Cut(out[i].Type, " ")
	}
	return out
}

func list(t *testing.T, img string) ([]Partition, error) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return List(f, fi.Size())
}

const (
	gptScript = "label: gpt\nstart=2048, size=20480, type=L, name=\"root fs\"\nsize=10M, type=U, name=\"EFI\"\nsize=4M, type=S\n"
	mbrScript = "label: dos\nstart=2048, size=8M, type=83, bootable\nsize=8M, type=b\ntype=5\nsize=4M, type=83\nsize=4M, type=82\nsize=2M, type=8e\n"
)

func TestListMatchesSfdisk(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, script string
		size         int64
		wantTypes    []string
	}{
		{"gpt", gptScript, 64 << 20, []string{"0FC63DAF-8483-4772-8E79-3D69D8477DE4 (Linux filesystem)", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B (EFI System)", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F (Linux swap)"}},
		{"gpt, 128 partitions allowed, one used at the end", "label: gpt\nstart=129024, type=L\n", 64 << 20, []string{"0FC63DAF-8483-4772-8E79-3D69D8477DE4 (Linux filesystem)"}},
		{"mbr with logical partitions", mbrScript, 64 << 20, []string{"0x83 (Linux)", "0x0b (FAT32)", "0x83 (Linux)", "0x82 (Linux swap)", "0x8e (Linux LVM)"}},
		{"mbr, one partition", "label: dos\ntype=83\n", 16 << 20, []string{"0x83 (Linux)"}},
		{"empty gpt", "label: gpt\n", 16 << 20, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img, want := partitioned(t, c.size, c.script)
			got, err := list(t, img)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if diff := cmp.Diff(want, typeCode(got)); diff != "" {
				t.Errorf("List differs from sfdisk -J (-sfdisk +List):\n%s", diff)
			}
			var types []string
			for _, p := range got {
				types = append(types, p.Type)
			}
			if diff := cmp.Diff(c.wantTypes, types); diff != "" {
				t.Errorf("types (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPartitionReader(t *testing.T) {
	t.Parallel()
	img, _ := partitioned(t, 64<<20, gptScript)
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	// Mark the first and last byte of partition 2 (sectors 22528-43007).
	data[22528*512], data[43008*512-1] = 'A', 'Z'
	r := bytes.NewReader(data)
	sec, p, err := Open(r, int64(len(data)), 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "EFI" || sec.Size() != 10<<20 {
		t.Fatalf("partition 2 = %+v, size %d", p, sec.Size())
	}
	all, err := io.ReadAll(sec)
	if err != nil || len(all) != 10<<20 || all[0] != 'A' || all[len(all)-1] != 'Z' {
		t.Errorf("partition 2 read %d bytes, %v; want 10 MiB from 'A' to 'Z'", len(all), err)
	}
	_, _, err = Open(r, int64(len(data)), 7)
	if want := "partition not found: partition 7; the gpt table has partitions 1, 2, 3"; err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(7) = %v; want %s", err, want)
	}
	_, _, err = Open(bytes.NewReader(make([]byte, 1<<20)), 1<<20, 1)
	if !errors.Is(err, ErrNoTable) {
		t.Errorf("Open on a blank volume = %v; want %v", err, ErrNoTable)
	}
}

func TestNoPartitionTable(t *testing.T) {
	t.Parallel()
	mkfs := tool(t, "mkfs.ext4")
	img := filepath.Join(t.TempDir(), "fs.img")
	if out, err := exec.Command(mkfs, "-q", "-F", img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	fat := make([]byte, 1<<20) // a FAT-like boot sector: 0x55AA but jump code, not entries
	copy(fat, []byte{0xeb, 0x3c, 0x90})
	copy(fat[446:], bytes.Repeat([]byte{0x1f}, 64))
	fat[510], fat[511] = 0x55, 0xaa
	for name, r := range map[string]func() ([]Partition, error){
		"ext4 on the whole volume": func() ([]Partition, error) { return list(t, img) },
		"zeros":                    func() ([]Partition, error) { return List(bytes.NewReader(make([]byte, 4096)), 4096) },
		"boot sector":              func() ([]Partition, error) { return List(bytes.NewReader(fat), int64(len(fat))) },
		"tiny volume":              func() ([]Partition, error) { return List(bytes.NewReader(make([]byte, 512)), 512) },
	} {
		if got, err := r(); err != nil || len(got) != 0 {
			t.Errorf("%s: List = %v, %v; want no partitions, no error", name, got, err)
		}
	}
	if _, err := List(bytes.NewReader(make([]byte, 100)), 100); err == nil {
		t.Errorf("a 100-byte volume: no error")
	}
}

func TestDamagedTables(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	lastLBA := int64(size/512 - 1)
	cases := []struct {
		name, script string
		damage       func(b []byte)
		msg          string // error; "" means List must still succeed (from the backup GPT)
	}{
		{"primary GPT header", gptScript, func(b []byte) { b[512+40] ^= 1 }, ""},
		{"primary GPT entries", gptScript, func(b []byte) { b[1024+32] ^= 1 }, ""},
		{"primary GPT header gone, protective MBR left", gptScript, func(b []byte) { clear(b[512:1024]) }, ""},
		{"both GPT headers", gptScript, func(b []byte) { b[512+40] ^= 1; b[lastLBA*512+40] ^= 1 },
			"damaged partition table: primary GPT header at byte 512: header CRC32 "},
		{"both GPT entry arrays", gptScript, func(b []byte) { b[1024+32] ^= 1; b[(lastLBA-32)*512+32] ^= 1 },
			"damaged partition table: primary GPT entries at byte 1024: CRC32 "},
		{"MBR entry past the end", mbrScript, func(b []byte) { b[446+16+12+3] = 0x10 },
			"damaged partition table: MBR entry 2 spans sectors 18432-268470271; expected inside sectors 0-131071"},
		{"logical partition chain loop", mbrScript, func(b []byte) {
			ebr := 34816 * 512 // the first extended boot record links to itself
			copy(b[ebr+446+16+8:], []byte{0, 0, 0, 0})
		}, "damaged partition table: the chain of logical partitions loops or exceeds 128 entries (extended boot record at sector 34816)"},
		{"extended boot record wiped", mbrScript, func(b []byte) { clear(b[34816*512 : 34817*512]) },
			"damaged partition table: extended boot record at sector 34816 has no 0x55AA signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img, want := partitioned(t, size, c.script)
			data, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			c.damage(data)
			got, err := List(bytes.NewReader(data), int64(len(data)))
			if c.msg == "" {
				if err != nil {
					t.Fatalf("List: %v; want the backup GPT", err)
				}
				if diff := cmp.Diff(want, typeCode(got)); diff != "" {
					t.Errorf("from the backup GPT (-sfdisk +List):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, ErrDamaged) || !strings.HasPrefix(err.Error(), c.msg) {
				t.Errorf("List error\n got %v\nwant %s... (errors.Is ErrDamaged)", err, c.msg)
			}
		})
	}
}
