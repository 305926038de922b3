package kubelet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/snaprestore/snaprestore/test/bench/measure"
	"github.com/snaprestore/snaprestore/test/e2e/cluster"
)

// BenchmarkPopulateBlockOnKubelet (make bench, as root) is BenchmarkPopulateBlock
// of test/e2e/populator on real pods: a backup of 1 GiB of random data
// restored by `snaprestore restore` on the host to a fresh loop device over a
// sparse file, and by the populator into a Block PVC on the same kind of
// device, the pod started by the kubelet through
// containerd and runc and reading the store through the CNI bridge. Rounds
// alternate the order; it reports the median per-round throughput ratio from
// the PVC's creation and from kubectl apply. The first round's device is
// checked against the data's sha256 after its time is taken.
func BenchmarkPopulateBlockOnKubelet(b *testing.B) {
	dir := b.TempDir()
	sha, err := randomBackup(binary, filepath.Join(dir, "gib.img"), 1<<30, "vol-gib", "backup-gib")
	if err != nil {
		b.Fatal(err)
	}
	// r: the wall times (the goal); engine: the engine's own time on the host
	// and in the pod, and the population's overhead around it.
	r, engine := measure.Rounds{Baseline: "restore", Goals: map[string]float64{"populate": 0.9}}, measure.Rounds{Baseline: "restore-engine"}
	for i := 0; b.Loop(); i++ {
		measure.Alternate(i, func() {
			// The same kind of device the provisioner gives the claim: a
			// fresh loop device over a sparse file (its first writes allocate).
			img := filepath.Join(dir, fmt.Sprintf("restored-%d.img", i))
			dev, err := attachLoop(img, 1<<30)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := detachLoops(func(f string) bool { return f == img }, []string{dev}); err != nil {
					b.Error(err)
				}
				os.Remove(img)
			}()
			cluster.TimeRestore(b, &r, &engine, exec.Command(binary, "restore", "bak://vol-gib/backup-gib", "--backupstore", hostStore, "--to", dev, "--force", "--concurrency", cluster.PopulateConcurrency))
		}, func() {
			ns := fmt.Sprintf("bench-%d", i)
			c.PopulationRound(b, ns, "gib", waitLimit, func() {
				apply(b, ns, "gib", "bak://vol-gib/backup-gib", className, "Block", "1Gi", "")
			}, func() {
				if i == 0 {
					checkDevice(b, pvOf(b, pvcOf(b, ns, "gib").Spec.VolumeName), sha)
					b.Logf("round 0, the PVC's events:\n%s", events(b, ns, "gib"))
				}
			}).AddTo(&r, &engine)
		})
	}
	r.Report(b)
	engine.Report(b)
}
