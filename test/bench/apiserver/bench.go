package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	e2ecluster "github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

const (
	benchClass     = "bench-longhorn-backup"
	probeNamespace = "bench-probe"
	// benchNamespace holds every phase's VolumeSnapshots. Each phase creates the
	// same objects (names, handles) and clear deletes them before the next, so
	// that every phase starts from the same cluster state.
	benchNamespace = "bench"
	// benchLabel marks the objects of the phases, for clear.
	benchLabel = "bench.snaprestore.io/phase-object"
)

// bench creates objects through the API server with typed clients.
type bench struct {
	env      *cluster.Env
	core     kubernetes.Interface
	snaps    snapclient.Interface
	warnings atomic.Int64
	// mix: odd object pairs are otherDriver's (see create).
	mix bool
	// otherOnly: every pair is otherDriver's.
	otherOnly bool
	// otherLatency holds the create latency of each of otherDriver's objects in
	// the running phase.
	mu           sync.Mutex
	otherLatency []time.Duration
	// twin, when set (-twin), is the baseline control plane: each object is
	// created on both, back to back (see phase).
	twin *bench
}

// otherDriver is the CSI driver of the -mix objects that are not Longhorn's.
const (
	otherDriver = "hostpath.csi.k8s.io"
	otherClass  = "bench-hostpath"
)

// configName names both webhook configurations, as the chart does.
const configName = e2ecluster.ConfigurationName

// countWarnings counts the warnings the API server returns (webhook warnings
// arrive as Warning headers) instead of printing them.
type countWarnings struct{ n *atomic.Int64 }

func (c countWarnings) HandleWarningHeader(int, string, string) { c.n.Add(1) }

// newBench creates through env's API server; env may hold only Config (the twin).
func newBench(env *cluster.Env) (*bench, error) {
	b := &bench{env: env}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = countWarnings{&b.warnings}
	var err error
	if b.core, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if b.snaps, err = snapclient.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("snapshot client: %w", err)
	}
	return b, nil
}

// prepare creates the VolumeSnapshotClass the objects name and the namespace
// of the registration probe.
func (b *bench) prepare(ctx context.Context) error {
	if _, err := b.snaps.SnapshotV1().VolumeSnapshotClasses().Create(ctx, cluster.SnapshotClass(benchClass), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshotClass %s: %w", benchClass, err)
	}
	other := cluster.SnapshotClass(otherClass)
	other.Driver = otherDriver
	if _, err := b.snaps.SnapshotV1().VolumeSnapshotClasses().Create(ctx, other, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshotClass %s: %w", otherClass, err)
	}
	for _, ns := range []string{probeNamespace, benchNamespace} {
		if _, err := b.core.CoreV1().Namespaces().Create(ctx, cluster.Namespace(ns), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	return nil
}

// reviews is the number of reviews the webhook server has served so far.
func (b *bench) reviews() int64 {
	var n int64
	for _, c := range b.env.Calls {
		n += c.Load()
	}
	return n
}

// register puts the webhook configurations of mode m in place and returns
// once the API server acts on them, as seen by a dry-run create of a
// VolumeSnapshot: it reaches both real snapshot webhooks (with), the no-op
// handler and neither real one (noop), or no webhook at all (without).
func (b *bench) register(ctx context.Context, m mode) error {
	adm := b.core.AdmissionregistrationV1()
	if err := adm.ValidatingWebhookConfigurations().Delete(ctx, configName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete ValidatingWebhookConfiguration %s: %w", configName, err)
	}
	if err := adm.MutatingWebhookConfigurations().Delete(ctx, configName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete MutatingWebhookConfiguration %s: %w", configName, err)
	}
	if m != without {
		url := func(path string) string { return b.env.URL + path }
		if m == noop {
			url = func(string) string { return b.env.URL + cluster.PathNoop }
		}
		if _, err := adm.ValidatingWebhookConfigurations().Create(ctx, e2ecluster.ValidatingConfiguration(url, b.env.CAData, false), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create ValidatingWebhookConfiguration %s: %w", configName, err)
		}
		if _, err := adm.MutatingWebhookConfigurations().Create(ctx, e2ecluster.MutatingConfiguration(url, b.env.CAData), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create MutatingWebhookConfiguration %s: %w", configName, err)
		}
	}
	counters := []*atomic.Int64{b.env.Calls[webhook.PathValidateVolumeSnapshots], b.env.Calls[webhook.PathMutateVolumeSnapshots], b.env.Calls[cluster.PathNoop]}
	probe := cluster.Snapshot(probeNamespace, "probe", "probe-content", benchClass)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var before, delta [3]int64
		for i, c := range counters {
			before[i] = c.Load()
		}
		_, err := b.snaps.SnapshotV1().VolumeSnapshots(probeNamespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		for i, c := range counters {
			delta[i] = c.Load() - before[i]
		}
		// The probe snapshot has no snaprestore.io/backup annotation, so the
		// mutating webhook's matchCondition keeps the API server from calling it:
		// one call, the validating webhook's (or, for noop, /noop's).
		var ok bool
		switch m {
		case with:
			ok = delta[0] > 0 && delta[1] == 0 && delta[2] == 0
		case noop:
			ok = delta[0] == 0 && delta[1] == 0 && delta[2] >= 1
		default:
			ok = delta == [3]int64{} && err == nil
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook configurations %q: the API server did not act on them within 2m (last dry-run create: %v; validate/mutate/no-op calls %v)", m, err, delta)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// phase creates n VolumeSnapshotContents (bak:// handles, refs pointing back)
// and their VolumeSnapshots in benchNamespace from workers goroutines and times
// it; each worker creates a content, then its snapshot. The objects stay until
// clear.
func (b *bench) phase(ctx context.Context, n, workers int) (phaseResult, error) {
	b.resetOther()
	if b.twin != nil {
		b.twin.resetOther()
	}
	before, err := b.counters(ctx)
	if err != nil {
		return phaseResult{}, err
	}
	// The CPU times are read inside the counters' reads, which cost
	// kube-apiserver a /metrics request each.
	cpu0, err := cluster.CPUTimes()
	if err != nil {
		return phaseResult{}, err
	}
	start := time.Now()
	if err := runSteps(ctx, n, workers, b.step(benchNamespace)); err != nil {
		return phaseResult{}, err
	}
	wall := time.Since(start)
	cpu1, err := cluster.CPUTimes()
	if err != nil {
		return phaseResult{}, err
	}
	after, err := b.counters(ctx)
	if err != nil {
		return phaseResult{}, err
	}
	p := after.since(before)
	p.Wall = wall
	p.CPUBy = map[string]time.Duration{}
	for name, d := range cpu1 {
		p.CPUBy[name] = d - cpu0[name]
		p.CPU += p.CPUBy[name]
	}
	p.OtherMean, p.OtherP50 = b.otherStats()
	if b.twin != nil {
		p.TwinOtherMean, p.TwinOtherP50 = b.twin.otherStats()
	}
	return p, nil
}

// step creates the i-th object pair; with a twin, the same pair on both control
// planes back to back, the order swapped every other pair, so that whatever else
// runs on the machine at that moment slows both alike.
func (b *bench) step(ns string) func(ctx context.Context, i int) error {
	if b.twin == nil {
		return func(ctx context.Context, i int) error { return b.create(ctx, ns, i) }
	}
	return func(ctx context.Context, i int) error {
		one, two := b, b.twin
		if i%2 == 1 {
			one, two = two, one
		}
		if err := one.create(ctx, ns, i); err != nil {
			return err
		}
		return two.create(ctx, ns, i)
	}
}

// runSteps runs step(0) … step(n-1) from workers goroutines and returns the first
// error, which stops the others.
func runSteps(ctx context.Context, n, workers int, step func(context.Context, int) error) error {
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := step(ctx, i); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// counterValues are the running totals a phase is measured by.
type counterValues struct {
	reviews, warnings, live int64
	reviewed                map[string]int64
	plugins                 pluginTime
}

func (b *bench) counters(ctx context.Context) (counterValues, error) {
	c := counterValues{reviews: b.reviews(), warnings: b.warnings.Load(), live: b.env.LiveReads.Load()}
	var err error
	if c.reviewed, err = reviewedByKind(); err != nil {
		return c, err
	}
	c.plugins, err = b.pluginTime(ctx)
	return c, err
}

// since is what happened between c0 and c, as a phase's result (without its wall
// time, CPU times and latencies).
func (c counterValues) since(c0 counterValues) phaseResult {
	p := phaseResult{Reviews: c.reviews - c0.reviews, Warnings: c.warnings - c0.warnings, LiveReads: c.live - c0.live,
		Reviewed: map[string]int64{}, Plugins: c.plugins.perCreate(c0.plugins)}
	for k, v := range c.reviewed {
		p.Reviewed[k] = v - c0.reviewed[k]
	}
	return p
}

func (b *bench) resetOther() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.otherLatency = nil
}

// otherStats are the mean and median of otherLatency.
func (b *bench) otherStats() (mean, median time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return meanAndMedian(b.otherLatency)
}

// meanAndMedian of ds; zeros when ds is empty.
func meanAndMedian(ds []time.Duration) (mean, median time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	s := slices.Sorted(slices.Values(ds))
	return sum / time.Duration(len(ds)), s[len(s)/2]
}

func (b *bench) create(ctx context.Context, ns string, i int) error {
	if b.otherOnly || (b.mix && i%2 == 1) {
		return b.createOther(ctx, ns, i)
	}
	snap := fmt.Sprintf("snap-%d", i)
	content := fmt.Sprintf("bench-content-%d", i)
	c := cluster.Content(content, ns, snap, benchClass, cluster.Handle("bench", i))
	s := cluster.Snapshot(ns, snap, content, benchClass)
	label(c, s)
	if _, err := b.snaps.SnapshotV1().VolumeSnapshotContents().Create(ctx, c, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshotContent %s: %w", content, err)
	}
	if _, err := b.snaps.SnapshotV1().VolumeSnapshots(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshot %s/%s: %w", ns, snap, err)
	}
	return nil
}

// createOther creates what another CSI driver's snapshot looks like: a dynamic
// VolumeSnapshot (persistentVolumeClaimName) and a VolumeSnapshotContent of
// otherDriver, as its snapshot controller would; the matchConditions send neither.
// Each create's latency goes to otherLatency.
func (b *bench) createOther(ctx context.Context, ns string, i int) error {
	snap := fmt.Sprintf("snap-%d", i)
	content := fmt.Sprintf("bench-content-%d", i)
	c := cluster.Content(content, ns, snap, otherClass, fmt.Sprintf("snapshot-bench-%d", i))
	c.Spec.Driver = otherDriver
	s := cluster.Snapshot(ns, snap, "", otherClass)
	s.Spec.Source = snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To(fmt.Sprintf("data-%d", i))}
	label(c, s)
	start := time.Now()
	if _, err := b.snaps.SnapshotV1().VolumeSnapshotContents().Create(ctx, c, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshotContent %s: %w", content, err)
	}
	mid := time.Now()
	if _, err := b.snaps.SnapshotV1().VolumeSnapshots(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshot %s/%s: %w", ns, snap, err)
	}
	end := time.Now()
	b.mu.Lock()
	b.otherLatency = append(b.otherLatency, mid.Sub(start), end.Sub(mid))
	b.mu.Unlock()
	return nil
}

func label(objs ...metav1.Object) {
	for _, o := range objs {
		o.SetLabels(map[string]string{benchLabel: "true"})
	}
}
