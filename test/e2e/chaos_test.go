package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

// chaosLabel selects the objects of a chaos test: the test's own webhook
// configurations carry it as objectSelector, so the suite's other tests, which share
// the cluster, never reach the webhook a chaos test breaks.
const chaosLabel = "chaos.snaprestore.io/test"

// registerIsolated creates the contract's webhook configurations (the chart's
// matchConditions included) under the name name, calling base+path, for objects
// labelled chaosLabel=name only; the test's cleanup deletes them.
func registerIsolated(t *testing.T, v *variant, name, base string, caBundle []byte) {
	t.Helper()
	ctx := context.Background()
	url := func(path string) string { return base + path }
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{chaosLabel: name}}
	val := cluster.ValidatingConfiguration(url, caBundle, v.stripCEL)
	val.Name = name
	for i := range val.Webhooks {
		val.Webhooks[i].ObjectSelector = sel
	}
	mut := cluster.MutatingConfiguration(url, caBundle)
	mut.Name = name
	for i := range mut.Webhooks {
		mut.Webhooks[i].ObjectSelector = sel
	}
	for _, o := range []client.Object{val, mut} {
		if err := v.c.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, name, err)
		}
		t.Cleanup(func() {
			if err := v.c.Client.Delete(context.Background(), o); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete %T %s: %v", o, name, err)
			}
		})
	}
}

// outageCase is one object applied while no webhook process answers.
type outageCase struct {
	what string
	obj  func(name string) client.Object
	// refusedBy is the webhook whose call fails ("" for an object no webhook is sent).
	refusedBy string
}

func outageCases(ns string, labels map[string]string) []outageCase {
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	cluster := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Labels: labels} }
	claim := func(name string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: meta(name), Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	}
	content := func(name, driver, handle string) *snapv1.VolumeSnapshotContent {
		return &snapv1.VolumeSnapshotContent{ObjectMeta: cluster(name), Spec: snapv1.VolumeSnapshotContentSpec{
			Driver: driver, DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
			Source:            snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To(handle)},
			VolumeSnapshotRef: corev1.ObjectReference{Namespace: ns, Name: name}}}
	}
	return []outageCase{
		{"dynamic VolumeSnapshot (persistentVolumeClaimName)", func(n string) client.Object {
			return &snapv1.VolumeSnapshot{ObjectMeta: meta(n), Spec: snapv1.VolumeSnapshotSpec{
				Source: snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To("data")}}}
		}, ""},
		{"VolumeSnapshotContent of another driver", func(n string) client.Object {
			return content(n, "hostpath.csi.k8s.io", "snapshot-"+n)
		}, ""},
		{"VolumeSnapshotClass of another driver", func(n string) client.Object {
			return &snapv1.VolumeSnapshotClass{ObjectMeta: cluster(n), Driver: "hostpath.csi.k8s.io", DeletionPolicy: snapv1.VolumeSnapshotContentDelete}
		}, ""},
		{"ordinary PVC", func(n string) client.Object { return claim(n) }, ""},
		{"Longhorn VolumeSnapshotContent of a backup", func(n string) client.Object {
			return content(n, webhook.DefaultLonghornDriver, "bak://vol-lz4/backup-7f3a9c21d4e85b60")
		}, "volumesnapshotcontents.validate.snaprestore.io"},
		{"VolumeSnapshot naming a content (restore)", func(n string) client.Object {
			return &snapv1.VolumeSnapshot{ObjectMeta: meta(n), Spec: snapv1.VolumeSnapshotSpec{
				Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: ptr.To(n)}}}
		}, "volumesnapshots.validate.snaprestore.io"},
		{"Longhorn VolumeSnapshotClass", func(n string) client.Object {
			return &snapv1.VolumeSnapshotClass{ObjectMeta: cluster(n), Driver: webhook.DefaultLonghornDriver, DeletionPolicy: snapv1.VolumeSnapshotContentRetain}
		}, "volumesnapshotclasses.validate.snaprestore.io"},
		{"PVC restoring a VolumeSnapshot", func(n string) client.Object {
			c := claim(n)
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: ptr.To(snapv1.GroupName), Kind: "VolumeSnapshot", Name: "backup"}
			return c
		}, "persistentvolumeclaims.mutate.snaprestore.io"},
		{"PVC with a bare backup reference", func(n string) client.Object {
			c := claim(n)
			c.Annotations = map[string]string{webhook.AnnotationBackup: "vol-gzip/backup-5b2e8d1f0c4a9367"}
			return c
		}, "persistentvolumeclaims.mutate.snaprestore.io"},
	}
}

// TestOutage stops every webhook process (a snaprestore webhook that served, then was
// SIGKILLed; failurePolicy Fail, the chart's default) and applies what a cluster
// applies: whatever the matchConditions do not send is admitted, what snaprestore is
// responsible for is refused with kube-apiserver's "failed calling webhook" naming the
// webhook. Each case is applied as a server-side dry run (admission runs in full,
// nothing is stored) rounds times; the test logs the figures of docs/webhook.md's
// "Operations: what a failure blocks".
func TestOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v := variants[0]
	const name, rounds = "chaos-outage", 20
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := v.c.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	ca, err := cluster.ServingCert(certDir)
	if err != nil {
		t.Fatal(err)
	}
	w := startWebhook(t, v, "--cert-dir", certDir)
	w.waitFor("readyz", w.ready)
	registerIsolated(t, v, name, "https://"+w.addr, ca)
	w.kill()

	labels := map[string]string{chaosLabel: name}
	cases := outageCases(name, labels)
	refusal := func(c outageCase) string { return `failed calling webhook "` + c.refusedBy + `"` }
	// The API server picks the new configurations up asynchronously: wait (bounded)
	// until the first refused case is refused.
	probe := cases[4]
	deadline := time.Now().Add(time.Minute)
	for {
		err := v.c.Client.Create(ctx, probe.obj("outage-probe"), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), refusal(probe)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server did not use the outage configuration within a minute; last answer to %s: %v", probe.what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var admitted, refused int
	var latencies []time.Duration
	for i := range rounds {
		for j, c := range cases {
			start := time.Now()
			err := v.c.Client.Create(ctx, c.obj(fmt.Sprintf("outage-%d-%d", j, i)), client.DryRunAll)
			latencies = append(latencies, time.Since(start))
			switch {
			case c.refusedBy == "" && err != nil:
				t.Errorf("%s: refused during the outage (%v); want it admitted: no snaprestore webhook is sent it", c.what, err)
			case c.refusedBy != "" && (err == nil || !strings.Contains(err.Error(), refusal(c))):
				t.Errorf("%s: answer %v during the outage; want %s", c.what, err, refusal(c))
			}
			if err == nil {
				admitted++
			} else {
				refused++
			}
			if i == 0 {
				verdict := "admitted"
				if err != nil {
					verdict = err.Error()
				}
				t.Logf("outage: %s: %s", c.what, verdict)
			}
		}
	}
	t.Logf("outage figures: %d applies, %d admitted, %d refused (failurePolicy Fail), p50 %s, p99 %s",
		admitted+refused, admitted, refused, percentile(latencies, 50), percentile(latencies, 99))
}

// percentile is the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)].Round(100 * time.Microsecond)
}

// TestFailoverBurst runs two webhook processes behind one failover proxy (see
// failoverProxy for why it is layer 7) and SIGKILLs one halfway through a burst of
// mixed creates, bare-reference PVCs included: with failurePolicy Fail no create
// fails, every bare reference has exactly one VolumeSnapshotContent, and every created
// content is claimed by its VolumeSnapshot (nothing for the orphan GC to find).
func TestFailoverBurst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v := variants[0]
	const name, applies, workers = "chaos-failover", 540, 6
	if err := v.c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	ca, err := cluster.ServingCert(certDir)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--cert-dir", certDir, "--backupstore", store, "--gc-grace-period", "15s"}
	victim, survivor := startWebhook(t, v, args...), startWebhook(t, v, args...)
	victim.waitFor("readyz", victim.ready)
	survivor.waitFor("readyz", survivor.ready)
	proxy := startFailoverProxy(t, certDir, ca, "https://"+victim.addr, "https://"+survivor.addr)
	registerIsolated(t, v, name, proxy.URL(), ca)

	labels := map[string]string{chaosLabel: name}
	t.Cleanup(func() { deleteChaosObjects(t, v, name) })
	cases := outageCases(name, labels)
	// The burst mixes what is sent and what is not; the Longhorn content and the
	// snapshot naming it are created as a pair so the snapshot binds.
	kinds := []int{0, 1, 2, 3, 4, 8, 8}
	type result struct {
		i       int
		err     error
		latency time.Duration
		after   bool // sent after the SIGKILL
	}
	results := make([]result, applies)
	var killed atomic.Bool
	var done atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				c := cases[kinds[i%len(kinds)]]
				after := killed.Load()
				start := time.Now()
				err := v.c.Client.Create(ctx, c.obj(fmt.Sprintf("burst-%d", i)))
				results[i] = result{i, err, time.Since(start), after}
				if done.Add(1) == applies/2 {
					victim.kill()
					killed.Store(true)
				}
			}
		})
	}
	for i := range applies {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	var failures int
	var during []time.Duration
	for _, r := range results {
		if r.err != nil {
			failures++
			t.Errorf("apply %d (%s): %v", r.i, cases[kinds[r.i%len(kinds)]].what, r.err)
		}
		if r.after {
			during = append(during, r.latency)
		}
	}
	t.Logf("failover figures: %d applies, %d failures, %d reviews resent by the proxy, p99 after the SIGKILL %s (%d applies), p50 %s",
		applies, failures, proxy.Retried(), percentile(during, 99), len(during), percentile(during, 50))

	// Every bare reference has its snapshot and exactly one content naming it.
	var contents snapv1.VolumeSnapshotContentList
	if err := v.c.Client.List(ctx, &contents); err != nil {
		t.Fatal(err)
	}
	perSnapshot := map[string]int{}
	for _, c := range contents.Items {
		if c.Annotations[webhook.AnnotationSnapshotNamespace] == name {
			perSnapshot[c.Annotations[webhook.AnnotationSnapshotName]]++
		}
	}
	var snaps snapv1.VolumeSnapshotList
	if err := v.c.Client.List(ctx, &snaps, client.InNamespace(name)); err != nil {
		t.Fatal(err)
	}
	bound := map[string]bool{}
	for _, s := range snaps.Items {
		bound[s.Name] = s.Spec.Source.VolumeSnapshotContentName != nil
	}
	var bare int
	for i := range applies {
		if kinds[i%len(kinds)] != 8 || results[i].err != nil {
			continue
		}
		bare++
		n := fmt.Sprintf("burst-%d", i)
		if perSnapshot[n] != 1 || !bound[n] {
			t.Errorf("bare-reference PVC %s: %d VolumeSnapshotContents, VolumeSnapshot naming one: %v; want exactly one content and its snapshot", n, perSnapshot[n], bound[n])
		}
		delete(perSnapshot, n)
	}
	for n, k := range perSnapshot {
		t.Errorf("%d VolumeSnapshotContents created for %s/%s, which is no bare-reference PVC of the burst: an orphan", k, name, n)
	}
	t.Logf("failover: %d bare-reference PVCs, each with one content and its snapshot", bare)
}

// deleteChaosObjects deletes the cluster-scoped objects a chaos test created (labelled
// chaosLabel=name, or contents the webhook created for its namespace) and the
// namespace.
func deleteChaosObjects(t *testing.T, v *variant, name string) {
	t.Helper()
	ctx := context.Background()
	sel := client.MatchingLabels{chaosLabel: name}
	if err := v.c.Client.DeleteAllOf(ctx, &snapv1.VolumeSnapshotClass{}, sel); err != nil {
		t.Errorf("delete the test's VolumeSnapshotClasses: %v", err)
	}
	var contents snapv1.VolumeSnapshotContentList
	if err := v.c.Client.List(ctx, &contents); err != nil {
		t.Errorf("list VolumeSnapshotContents: %v", err)
	}
	for i := range contents.Items {
		c := &contents.Items[i]
		if c.Labels[chaosLabel] == name || c.Annotations[webhook.AnnotationSnapshotNamespace] == name {
			if err := v.c.Client.Delete(ctx, c); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete VolumeSnapshotContent %s: %v", c.Name, err)
			}
		}
	}
	if err := v.c.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", name, err)
	}
}
