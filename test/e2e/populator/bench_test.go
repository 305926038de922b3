package populator

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
	"github.com/snaprestore/snaprestore/test/bench/measure"
	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/test/nodeagent"
)

// BenchmarkPopulateBlock (make bench) populates a Block PVC from a backup of
// 1 GiB of written (random) data and, in the same run, restores the same
// backup with snaprestore restore to a file, in alternating order; it reports
// both times and the median per-round ratio (goal: populate ≥ 0.9× the CLI's
// throughput, i.e. the controller adds scheduling, not throughput loss).
func BenchmarkPopulateBlock(b *testing.B) {
	dir := b.TempDir()
	img := filepath.Join(dir, "gib.img")
	f, err := os.Create(img)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, 1<<30); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(binary, "backup", "--backupstore", store, "--volume", "vol-gib", "--from", img, "--backup", "backup-gib").CombinedOutput(); err != nil {
		b.Fatalf("snaprestore backup: %v\n%s", err, out)
	}
	os.Remove(img)
	// r: the wall times (the goal); engine: the engine's own time in the
	// CLI and in the pod, and the population's overhead around it.
	r, engine := measure.Rounds{Baseline: "restore", Goals: map[string]float64{"populate": 0.9}}, measure.Rounds{Baseline: "restore-engine"}
	for i := 0; b.Loop(); i++ {
		measure.Alternate(i, func() {
			target := filepath.Join(dir, fmt.Sprintf("restored-%d.img", i))
			cluster.TimeRestore(b, &r, &engine, exec.Command(binary, "restore", "bak://vol-gib/backup-gib", "--backupstore", store, "--to", target, "--concurrency", cluster.PopulateConcurrency))
			os.Remove(target)
		}, func() {
			benchPopulateMode(b, fmt.Sprintf("bench-%d", i), "bak://vol-gib/backup-gib", "Block", "1Gi").AddTo(&r, &engine)
		})
	}
	r.Report(b)
	engine.Report(b)
}

// benchPopulateMode times one population (cluster.PopulationRound): the
// BackupSource and a PVC of mode and size applied with kubectl.
func benchPopulateMode(b *testing.B, ns, backup, mode, size string) cluster.BoundTimes {
	b.Helper()
	return c.PopulationRound(b, ns, "gib", 10*time.Minute, func() {
		c.MustKubectl(b, fmt.Sprintf(`apiVersion: snaprestore.io/v1alpha1
kind: BackupSource
metadata: {name: gib, namespace: %[1]s}
spec: {backup: %[3]s}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: gib, namespace: %[1]s}
spec:
  storageClassName: %[2]s
  volumeMode: %[4]s
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: %[5]s}}
  dataSourceRef: {apiGroup: snaprestore.io, kind: BackupSource, name: gib}
`, ns, nodeagent.ImmediateClass, backup, mode, size), "apply", "-f", "-")
	}, nil)
}

// BenchmarkPopulateFilesystem (make bench) populates a Filesystem PVC from a
// backup of an ext4 image made with mkfs.ext4 -d from fsreadtest's tree plus
// 512 MiB of data in 2,000 files (a volume's worth of work, not only the
// population's fixed cost), and in the same run copies that tree with cp -a;
// it reports both wall times and their ratio (goal: populate ≥ 0.7× cp -a).
// As root, both write into a new 1 GiB ext4 of their own, as a restore into
// a new volume does: the PVC's, which the node agent provisions, and cp's,
// made by the same nodeagent.NewFilesystem. The population's time includes
// its volume's provisioning, so the baseline "cp-a-new-fs" includes making
// cp's filesystem (mkfs.ext4 and mount); the engine's split compares the
// pod's copy with cp -a alone ("cp-a"), the filesystem already made.
func BenchmarkPopulateFilesystem(b *testing.B) {
	tree := filepath.Join(b.TempDir(), "tree")
	fsreadtest.BuildTree(b, tree)
	writeFiles(b, filepath.Join(tree, "data"), 2000, 512<<20)
	img := fsreadtest.MakeExt4(b, tree, "1G")
	if out, err := exec.Command(binary, "backup", "--backupstore", store, "--volume", "vol-fsbench", "--from", img, "--backup", "backup-fsbench").CombinedOutput(); err != nil {
		b.Fatalf("snaprestore backup: %v\n%s", err, out)
	}
	// engine compares the pod's own copy time with cp -a alone.
	r, engine := measure.Rounds{Baseline: "cp-a-new-fs", Goals: map[string]float64{"populate": 0.7}}, measure.Rounds{Baseline: "cp-a"}
	for i := 0; b.Loop(); i++ {
		measure.Alternate(i, func() {
			dst := filepath.Join(b.TempDir(), "copy")
			start := time.Now()
			if mountFilesystems {
				if err := nodeagent.NewFilesystem(dst+".img", dst, 1<<30); err != nil {
					b.Fatal(err)
				}
				defer func() {
					if err := nodeagent.RemoveFilesystem(dst+".img", dst); err != nil {
						b.Error(err)
					}
				}()
			} else if err := os.MkdirAll(dst, 0o755); err != nil {
				b.Fatal(err)
			}
			copyStart := time.Now()
			if out, err := exec.Command("cp", "-a", tree, filepath.Join(dst, "tree")).CombinedOutput(); err != nil {
				b.Fatalf("cp -a: %v\n%s", err, out)
			}
			if out, err := exec.Command("sync", "-f", dst).CombinedOutput(); err != nil {
				b.Fatalf("sync: %v\n%s", err, out)
			}
			r.Add("cp-a-new-fs", time.Since(start))
			engine.Add("cp-a", time.Since(copyStart))
		}, func() {
			benchPopulateMode(b, fmt.Sprintf("fsbench-%d", i), "bak://vol-fsbench/backup-fsbench", "Filesystem", "1Gi").AddTo(&r, &engine)
		})
	}
	r.Report(b)
	engine.Report(b)
}

// writeFiles writes n files of random data, total bytes in all, under dir in
// 100 subdirectories.
func writeFiles(b *testing.B, dir string, n int, total int64) {
	buf := make([]byte, total/int64(n))
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if _, err := rand.Read(buf); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
