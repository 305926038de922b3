package nbd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/restore"
)

// TestExportOnePartition backs up a disk image that sfdisk partitioned (GPT,
// as a KubeVirt VM disk) and exports its second partition.
func TestExportOnePartition(t *testing.T) {
	t.Parallel()
	nbdcopy := tool(t, "nbdcopy")
	sfdisk, err := exec.LookPath("sfdisk")
	if err != nil {
		sfdisk = "/usr/sbin/sfdisk"
	}
	if _, err := os.Stat(sfdisk); err != nil {
		t.Fatalf("sfdisk not found; install Debian's fdisk (hack/test-deps.sh)")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	disk := make([]byte, 16<<20)
	if err := os.WriteFile(img, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=2048, size=4M, type=U\nsize=6M, type=L, name=\"data\"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	disk, err = os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	part := disk[5<<20 : 11<<20] // partition 2: after partition 1 (1-5 MiB)
	for i := range part {
		part[i] = byte(i*7 + i>>12)
	}
	if err := os.WriteFile(img, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := restore.OpenStore("file://"+filepath.Join(dir, "store"), restore.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restore.WriteBackup(context.Background(), st, restore.BackupOptions{Volume: "vm-disk", Image: img, Backup: "backup-0000000000000001"}); err != nil {
		t.Fatalf("WriteBackup: %v", err)
	}
	s := serve(t, st.Store, "vm-disk", "backup-0000000000000001", Options{Partition: 2})
	if p := s.export.Partition; p == nil || p.Name != "data" || p.Start != 5<<20 || s.export.Size != 6<<20 {
		t.Fatalf("export %+v; want partition 2 \"data\", 6 MiB at 5 MiB", s.export)
	}
	out := filepath.Join(dir, "part.img")
	if b, err := exec.Command(nbdcopy, s.url, out).CombinedOutput(); err != nil {
		t.Fatalf("nbdcopy: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, part) {
		t.Errorf("the exported partition (%d bytes) differs from partition 2 of the image (%d bytes)", len(got), len(part))
	}
	err = Run(context.Background(), st.Store, "vm-disk", "backup-0000000000000001", Options{Listen: "127.0.0.1:0", Partition: 3})
	if want := "bak://vm-disk/backup-0000000000000001: partition not found: partition 3; the gpt table has partitions 1, 2"; err == nil || err.Error() != want {
		t.Errorf("partition 3: %v; want %s", err, want)
	}
}
