package populator

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
	"github.com/snaprestore/snaprestore/test/nodeagent"
)

// BenchmarkPopulateBlock (make bench) populates a Block PVC from a backup of
// 1 GiB of written (random) data and, in the same run, restores the same
// backup with snaprestore restore to a file; it reports both wall times and
// their ratio (goal: populate ≥ 0.9× the CLI's throughput, i.e. the
// controller adds scheduling, not throughput loss).
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
	var cli, pop, popApply time.Duration
	for i := 0; b.Loop(); i++ {
		restore := func() {
			target := filepath.Join(dir, fmt.Sprintf("restored-%d.img", i))
			start := time.Now()
			if out, err := exec.Command(binary, "restore", "bak://vol-gib/backup-gib", "--backupstore", store, "--to", target).CombinedOutput(); err != nil {
				b.Fatalf("snaprestore restore: %v\n%s", err, out)
			}
			cli += time.Since(start)
			os.Remove(target)
		}
		populate := func() {
			fromCreate, fromApply := benchPopulateMode(b, fmt.Sprintf("bench-%d", i), "bak://vol-gib/backup-gib", "Block", "1Gi")
			pop, popApply = pop+fromCreate, popApply+fromApply
		}
		inTurn(i, restore, populate)
	}
	reportPair(b, "restore", cli, pop, popApply)
}

// benchPopulateMode creates a namespace, then (timed) applies the BackupSource
// and a PVC of mode and size with kubectl and watches the PVC until it is
// Bound. It returns the time from the PVC's creation (its first watch event)
// to the Bound update, and from the start of kubectl apply to it. The
// namespace is created before and deleted after the timed part, and the phase
// arrives by watch, so no polling interval is counted against the populator.
func benchPopulateMode(b *testing.B, ns, backup, mode, size string) (fromCreate, fromApply time.Duration) {
	b.Helper()
	run := func(stdin string, args ...string) string { return c.MustKubectl(b, stdin, args...) }
	run("", "create", "namespace", ns)
	defer run("", "delete", "namespace", ns, "--wait=false")
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w, err := cs.CoreV1().PersistentVolumeClaims(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=gib"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	run(fmt.Sprintf(`apiVersion: snaprestore.io/v1alpha1
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
	var created time.Time
	for ev := range w.ResultChan() {
		pvc, ok := ev.Object.(*corev1.PersistentVolumeClaim)
		if !ok {
			continue
		}
		now := time.Now()
		if ev.Type == watch.Added {
			created = now
		}
		if pvc.Status.Phase == corev1.ClaimBound {
			if created.IsZero() {
				b.Fatalf("PVC %s/gib: Bound before its creation was seen", ns)
			}
			return now.Sub(created), now.Sub(start)
		}
	}
	b.Fatalf("PVC %s/gib: the watch ended before it was Bound (%v)", ns, ctx.Err())
	return 0, 0
}

// BenchmarkPopulateFilesystem (make bench) populates a Filesystem PVC from a
// backup of an ext4 image made with mkfs.ext4 -d from fsreadtest's tree, and
// in the same run copies that tree with cp -a; it reports both wall times and
// their ratio (goal: populate ≥ 0.7× cp -a).
func BenchmarkPopulateFilesystem(b *testing.B) {
	tree := filepath.Join(b.TempDir(), "tree")
	fsreadtest.BuildTree(b, tree)
	img := fsreadtest.MakeExt4(b, tree, "256M")
	if out, err := exec.Command(binary, "backup", "--backupstore", store, "--volume", "vol-fsbench", "--from", img, "--backup", "backup-fsbench").CombinedOutput(); err != nil {
		b.Fatalf("snaprestore backup: %v\n%s", err, out)
	}
	var cp, pop, popApply time.Duration
	for i := 0; b.Loop(); i++ {
		copyTree := func() {
			dst := filepath.Join(b.TempDir(), "copy")
			start := time.Now()
			if out, err := exec.Command("cp", "-a", tree, dst).CombinedOutput(); err != nil {
				b.Fatalf("cp -a: %v\n%s", err, out)
			}
			if out, err := exec.Command("sync", "-f", dst).CombinedOutput(); err != nil {
				b.Fatalf("sync: %v\n%s", err, out)
			}
			cp += time.Since(start)
		}
		populate := func() {
			fromCreate, fromApply := benchPopulateMode(b, fmt.Sprintf("fsbench-%d", i), "bak://vol-fsbench/backup-fsbench", "Filesystem", "256Mi")
			pop, popApply = pop+fromCreate, popApply+fromApply
		}
		inTurn(i, copyTree, populate)
	}
	reportPair(b, "cp-a", cp, pop, popApply)
}

// reportPair reports the baseline's and the populator's mean seconds and the
// throughput ratios baseline/populate, timed from the PVC's creation (the
// goal's figure) and from the start of kubectl apply.
func reportPair(b *testing.B, baseline string, base, fromCreate, fromApply time.Duration) {
	n := float64(b.N)
	b.ReportMetric(base.Seconds()/n, baseline+"-s/op")
	b.ReportMetric(fromCreate.Seconds()/n, "populate-s/op")
	b.ReportMetric(base.Seconds()/fromCreate.Seconds(), "populate/"+baseline+"-throughput")
	b.ReportMetric(base.Seconds()/fromApply.Seconds(), "populate-from-apply/"+baseline+"-throughput")
}

// inTurn runs baseline then populate on even iterations and the other way
// round on odd ones, so neither always pays for the other's write-back.
func inTurn(i int, baseline, populate func()) {
	if i%2 == 1 {
		baseline, populate = populate, baseline
	}
	baseline()
	populate()
}
