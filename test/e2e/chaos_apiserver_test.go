package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/test/testenv"
	"github.com/snaprestore/snaprestore/webhook"
)

// restartHandle is a backup of the fixture backupstore.
const restartHandle = "bak://vol-lz4/backup-7f3a9c21d4e85b60"

// TestAPIServerRestart restarts kube-apiserver (SIGTERM, then the same command line on
// the same etcd) under a webhook that runs with leader election and the chart's lease
// times (the flag defaults), on a cluster of its own: the suite's clusters are shared
// with tests that would fail during the outage. Afterwards the webhook process is
// still up and still holds the Lease, its cache has recovered (a VolumeSnapshot naming
// a content created after the restart whose volumeSnapshotRef is another snapshot is
// denied), the leader-only orphan GC still deletes an orphan created after the restart,
// and the test logs the figures of docs/webhook.md's "Operations: what a failure
// blocks".
func TestAPIServerRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ns = "restart"
	c := startLeaderCluster(t, ns)
	holder := waitLease(t, c)

	// Probe applies run throughout: a dry-run VolumeSnapshot naming a content that
	// names it back (admitted), every 200 ms.
	mustCreate(t, c, restartContent("restart-good", ns, "restart-good"))
	probe := func() error {
		return c.Client.Create(ctx, restartSnapshot("restart-good", ns, "restart-good"), client.DryRunAll)
	}
	if err := probe(); err != nil {
		t.Fatalf("probe before the restart: %v; want it admitted", err)
	}
	var down atomic.Bool
	var stopProbes atomic.Bool
	var duringFailed, duringTotal int
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stopProbes.Load() {
			if down.Load() {
				duringTotal++
				if probe() != nil {
					duringFailed++
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	down.Store(true)
	r, err := c.RestartAPIServer(ctx, 10*time.Second, 2*time.Minute)
	down.Store(false)
	stopProbes.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver stopped %.1fs after SIGTERM (SIGKILLed after 10s: %v); API outage %.1fs; %d of %d applies during it failed (the API server was away)",
		r.Stopped.Seconds(), r.Killed, r.Outage.Seconds(), duringFailed, duringTotal)

	// After the restart: every apply is judged, none fails with a webhook error.
	var after []time.Duration
	var afterFailed int
	for i := range 40 {
		start := time.Now()
		err := probe()
		after = append(after, time.Since(start))
		if err != nil {
			afterFailed++
			if afterFailed <= 3 {
				t.Errorf("apply %d after the restart: %v; want it admitted", i, err)
			}
		}
	}
	if exited, err := c.Exited(); exited {
		t.Fatalf("the webhook exited during the API server restart (%v); its log ends:\n%s", err, c.LogTail())
	}
	if log, err := os.ReadFile(c.WebhookLog); err != nil || strings.Contains(string(log), "leader election lost") {
		t.Errorf("webhook log %s (read error %v) says leader election lost; want the leader to keep its Lease through the restart", c.WebhookLog, err)
	}
	if now := waitLease(t, c); now != holder {
		t.Errorf("Lease %s held by %q after the restart, by %q before; want the same leader", webhook.LeaderElectionID, now, holder)
	}

	deniedAfter, gcAfter := judgedAfterRestart(t, c, ns)
	t.Logf("API server restart figures: outage %.1fs (stop %.1fs), applies during %d (%d failed), after %d (%d failed, p50 %s, p99 %s); cross-object denial %.1fs after the create, orphan GC %.1fs after the create (grace 5s); webhook up, Lease kept by %s",
		r.Outage.Seconds(), r.Stopped.Seconds(), duringTotal, duringFailed, len(after), afterFailed, percentile(after, 50), percentile(after, 99),
		deniedAfter.Seconds(), gcAfter.Seconds(), holder)
}

// TestLeaseLost restarts kube-apiserver under a leader-elected webhook whose renew
// deadline (3 s) is shorter than the outage, on a cluster of its own: the leader loses
// its Lease, and only its leader-only work stops. The same process keeps running and
// answering admission (its cache recovers: a cross-object denial), campaigns again,
// holds the Lease again, and its orphan GC deletes an orphan created after the restart.
func TestLeaseLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ns = "lease"
	c := startLeaderCluster(t, ns, "--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "1s")
	before := waitLease(t, c)
	r, err := c.RestartAPIServer(ctx, 10*time.Second, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const lost = "Leader-only work stopped; admission keeps serving, campaigning again"
	bounded(t, c, "the webhook log says the Lease was lost", func() (bool, string) {
		log, err := os.ReadFile(c.WebhookLog)
		return err == nil && strings.Contains(string(log), lost), fmt.Sprintf("log %s (read error %v)", c.WebhookLog, err)
	})
	mustCreate(t, c, restartContent("lease-good", ns, "lease-good"))
	var after []time.Duration
	for i := range 20 {
		start := time.Now()
		if err := c.Client.Create(ctx, restartSnapshot("lease-good", ns, "lease-good"), client.DryRunAll); err != nil {
			t.Errorf("apply %d after the restart: %v; want it admitted", i, err)
		}
		after = append(after, time.Since(start))
	}
	denied, gc := judgedAfterRestart(t, c, ns)
	holder := waitLease(t, c)
	if exited, err := c.Exited(); exited {
		t.Fatalf("the webhook exited (%v); want the same process serving; its log ends:\n%s", err, c.LogTail())
	}
	t.Logf("Lease lost figures: outage %.1fs (renew deadline 3s); the same process answered %d applies after it (p50 %s, p99 %s), a cross-object denial %.1fs and the orphan GC %.1fs after their creates; Lease held by %s before, %s after (a new term)",
		r.Outage.Seconds(), len(after), percentile(after, 50), percentile(after, 99), denied.Seconds(), gc.Seconds(), before, holder)
}

// startLeaderCluster starts a cluster of the test's own whose webhook runs with
// the fixture backupstore, leader election (Lease in default), a 5 s GC grace and
// args, and creates namespace ns in it; the test's cleanup stops it.
func startLeaderCluster(t *testing.T, ns string, args ...string) *cluster.Cluster {
	t.Helper()
	assets, err := testenv.Assets("", "kubectl")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Start(context.Background(), cluster.Options{Assets: assets, Binary: binary, ModuleDir: moduleRoot, WorkDir: t.TempDir(),
		WebhookArgs: append([]string{"--backupstore", store, "--leader-elect", "--leader-election-namespace", "default", "--gc-grace-period", "5s"}, args...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the cluster of %s: %v", t.Name(), err)
		}
	})
	if err := c.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// judgedAfterRestart shows the webhook whole after an API server restart: its cache
// recovered (a VolumeSnapshot naming a content created after the restart whose
// volumeSnapshotRef is another snapshot is denied) and the leader's orphan GC runs (an
// orphan created after the restart is deleted). It returns how long each took after
// its create.
func judgedAfterRestart(t *testing.T, c *cluster.Cluster, ns string) (denied, collected time.Duration) {
	t.Helper()
	mustCreate(t, c, restartContent(ns+"-wrong", ns, "someone-else"))
	denied = waitDenied(t, c, restartSnapshot(ns+"-snap", ns, ns+"-wrong"), "has spec.volumeSnapshotRef "+ns+"/someone-else")
	orphan := restartContent(ns+"-orphan", ns, "never-created")
	orphan.Labels = map[string]string{webhook.LabelManagedBy: webhook.ManagedByValue}
	orphan.Annotations = map[string]string{webhook.AnnotationSnapshotNamespace: ns, webhook.AnnotationSnapshotName: "never-created"}
	mustCreate(t, c, orphan)
	return denied, waitGone(t, c, orphan)
}

// restartContent is a Longhorn content of a fixture backup whose volumeSnapshotRef is
// ns/ref.
func restartContent(name, ns, ref string) *snapv1.VolumeSnapshotContent {
	return &snapv1.VolumeSnapshotContent{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: snapv1.VolumeSnapshotContentSpec{
		Driver: webhook.DefaultLonghornDriver, DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
		Source:            snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To(restartHandle)},
		VolumeSnapshotRef: corev1.ObjectReference{Namespace: ns, Name: ref}}}
}

// restartSnapshot is a VolumeSnapshot ns/name naming content.
func restartSnapshot(name, ns, content string) *snapv1.VolumeSnapshot {
	return &snapv1.VolumeSnapshot{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: snapv1.VolumeSnapshotSpec{
		Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: ptr.To(content)}}}
}

func mustCreate(t *testing.T, c *cluster.Cluster, o client.Object) {
	t.Helper()
	if err := c.Client.Create(context.Background(), o); err != nil {
		t.Fatalf("create %T %s: %v", o, o.GetName(), err)
	}
}

// bounded runs cond every 100 ms for up to a minute and returns how long it took; it
// fails the test with what and the last state otherwise, or when the webhook exited.
func bounded(t *testing.T, c *cluster.Cluster, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := "not checked"
	for time.Since(start) < time.Minute {
		if exited, err := c.Exited(); exited {
			t.Fatalf("%s: the webhook exited (%v); its log ends:\n%s", what, err, c.LogTail())
		}
		var ok bool
		if ok, last = cond(); ok {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within a minute; last: %s; the webhook log ends:\n%s", what, last, c.LogTail())
	return 0
}

// waitLease waits for the webhook's Lease to have a holder and returns it.
func waitLease(t *testing.T, c *cluster.Cluster) string {
	t.Helper()
	var holder string
	bounded(t, c, "Lease default/"+webhook.LeaderElectionID+" held", func() (bool, string) {
		var l coordinationv1.Lease
		if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: webhook.LeaderElectionID}, &l); err != nil {
			return false, err.Error()
		}
		holder = ptr.Deref(l.Spec.HolderIdentity, "")
		return holder != "", fmt.Sprintf("holder %q", holder)
	})
	return holder
}

// waitDenied dry-runs the create of o until the webhook denies it with want (the
// webhook's cache may lag the create of the object the denial needs).
func waitDenied(t *testing.T, c *cluster.Cluster, o client.Object, want string) time.Duration {
	t.Helper()
	return bounded(t, c, fmt.Sprintf("create of %T %s denied with %q", o, o.GetName(), want), func() (bool, string) {
		err := c.Client.Create(context.Background(), o.DeepCopyObject().(client.Object), client.DryRunAll)
		if err == nil {
			return false, "admitted"
		}
		return strings.Contains(err.Error(), want), err.Error()
	})
}

// waitGone waits until o no longer exists.
func waitGone(t *testing.T, c *cluster.Cluster, o client.Object) time.Duration {
	t.Helper()
	return bounded(t, c, fmt.Sprintf("%T %s deleted by the orphan GC", o, o.GetName()), func() (bool, string) {
		err := c.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o.DeepCopyObject().(client.Object))
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("get: %v", errors.Join(err))
	})
}
