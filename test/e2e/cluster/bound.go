package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/bench/measure"
)

// BoundTimes are the two ways a benchmark times a PVC to Bound: from its
// creation (the first watch event that shows it) and from the start of the
// apply that created it (kubectl's own start-up included); and, from
// PopulationRound, the part of it the restore engine took inside the
// populator pod, as the pod reported it (the PVC's PopulateVerified event).
type BoundTimes struct {
	FromCreate, FromApply time.Duration
	Engine                time.Duration
}

// Overhead is what the population added around the engine: the prime PVC,
// scheduling, the pod's start and exit, the rebind.
func (t BoundTimes) Overhead() time.Duration { return t.FromCreate - t.Engine }

// engineTime matches the duration a restore summary ends with: the CLI's
// "... 1 GiB written in 3.408s (315.1 MB/s)" and the populator's Result,
// "... 1073741824 bytes in 3.265s".
var engineTime = regexp.MustCompile(`\bin ((?:[0-9.]+(?:ms|µs|h|m|s))+)\b`)

// EngineTime is the last restore duration in out (the output of snaprestore
// restore, or a populator event's message).
func EngineTime(out string) (time.Duration, error) {
	m := engineTime.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("no restore duration (\"in <duration>\") in %q", out)
	}
	return time.ParseDuration(m[len(m)-1][1])
}

// engineFromEvents reads the engine's time from PVC ns/name's
// PopulateVerified event, whose message carries the pod's Result.
func (c *Cluster) engineFromEvents(ctx context.Context, ns, name string) (time.Duration, error) {
	var list corev1.EventList
	if err := c.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return 0, fmt.Errorf("list events of %s: %w", ns, err)
	}
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name && e.Reason == "PopulateVerified" {
			return EngineTime(e.Message)
		}
	}
	return 0, fmt.Errorf("PVC %s/%s has no PopulateVerified event", ns, name)
}

// TimeToBound watches PVC ns/name, runs apply (which must create it) and
// returns when the PVC is Bound. The phase arrives by watch, so no polling
// interval is counted; the watch starts before apply, so the creation is seen.
func (c *Cluster) TimeToBound(ctx context.Context, ns, name string, apply func() error) (BoundTimes, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return BoundTimes{}, err
	}
	w, err := cs.CoreV1().PersistentVolumeClaims(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return BoundTimes{}, fmt.Errorf("watch PVC %s/%s: %w", ns, name, err)
	}
	defer w.Stop()
	start := time.Now()
	if err := apply(); err != nil {
		return BoundTimes{}, err
	}
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
				return BoundTimes{}, fmt.Errorf("PVC %s/%s: Bound before its creation was seen", ns, name)
			}
			return BoundTimes{FromCreate: now.Sub(created), FromApply: now.Sub(start)}, nil
		}
	}
	return BoundTimes{}, fmt.Errorf("PVC %s/%s: the watch ended before it was Bound (%v)", ns, name, ctx.Err())
}

// DeleteNamespace deletes namespace ns and waits until it is gone and no
// PersistentVolume is claimed from it (the provisioner has deleted their
// storage), then syncs the host's filesystems: a benchmark's next round then
// starts without another round's clean-up still being written.
func (c *Cluster) DeleteNamespace(ctx context.Context, ns string) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	for {
		_, nerr := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list PVs: %w", err)
		}
		left := 0
		for _, pv := range pvs.Items {
			if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Namespace == ns {
				left++
			}
		}
		if apierrors.IsNotFound(nerr) && left == 0 {
			syscall.Sync()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s: still there or %d PVs claimed from it: %w", ns, left, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PopulationRound is one timed population of a benchmark: it creates
// namespace ns, times PVC ns/name to Bound around apply (TimeToBound), runs
// check (nil for none) on the bound PVC, then deletes the namespace and waits
// for its volumes (DeleteNamespace); only apply to Bound is timed. Any error
// fails tb. within bounds the whole round.
func (c *Cluster) PopulationRound(tb testing.TB, ns, name string, within time.Duration, apply, check func()) BoundTimes {
	tb.Helper()
	c.MustKubectl(tb, "", "create", "namespace", ns)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	defer func() { // also when apply or check fail the test
		if err := c.DeleteNamespace(ctx, ns); err != nil {
			tb.Error(err)
		}
	}()
	var tl *timeline
	if os.Getenv(EnvTimeline) != "" {
		var err error
		if tl, err = c.startTimeline(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	times, err := c.TimeToBound(ctx, ns, name, func() error { apply(); return nil })
	if tl != nil {
		tb.Logf("timeline of PVC %s/%s (%s):\n%s", ns, name, EnvTimeline, tl.stop("pvc "+ns+"/"+name))
	}
	if err != nil {
		tb.Fatal(err)
	}
	// The event is recorded as the PV is handed over, so it may trail Bound.
	err = c.poll(ctx, "the PopulateVerified event of PVC "+ns+"/"+name, func(ctx context.Context) (bool, string) {
		times.Engine, err = c.engineFromEvents(ctx, ns, name)
		return err == nil, fmt.Sprint(err)
	})
	if err != nil {
		tb.Fatal(err)
	}
	if check != nil {
		check()
	}
	return times
}

// PopulateConcurrency is the CLI's --concurrency that matches a Block
// populator pod's engine where block checksums are hashed in batches
// (restore.Options.BatchChecksums, on AVX-512); elsewhere the pod fetches
// fewer blocks at once and the baseline is slightly favoured.
const PopulateConcurrency = "16"

// TimeRestore runs cmd, a snaprestore restore, and records its wall time in
// r as "restore" and the engine's own time from its summary line in engine as
// "restore-engine", the baselines of AddTo's series. A failure fails tb.
func TimeRestore(tb testing.TB, r, engine *measure.Rounds, cmd *exec.Cmd) {
	tb.Helper()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	r.Add("restore", time.Since(start))
	d, err := EngineTime(string(out))
	if err != nil {
		tb.Fatal(err)
	}
	engine.Add("restore-engine", d)
}

// AddTo records the round's times in r: "populate" from the PVC's creation
// (the figure the populator's goals speak of) and "populate-from-apply"; in
// engine, whose baseline is the same work done on the host without the
// cluster, "populate-engine", the pod's own time, and the overhead around it.
func (t BoundTimes) AddTo(r, engine *measure.Rounds) {
	r.Add("populate", t.FromCreate)
	r.Add("populate-from-apply", t.FromApply)
	engine.Add("populate-engine", t.Engine)
	engine.Part("populate-overhead", t.Overhead())
}
