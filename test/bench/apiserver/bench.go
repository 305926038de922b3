package main

import (
	"context"
	"fmt"
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
	// otherNanos and otherCreates sum the create latency of otherDriver's objects
	// in the running phase.
	otherNanos, otherCreates atomic.Int64
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
	if _, err := b.core.CoreV1().Namespaces().Create(ctx, cluster.Namespace(probeNamespace), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", probeNamespace, err)
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
// and their VolumeSnapshots in a new namespace from workers goroutines and
// times it; each worker creates a content, then its snapshot.
func (b *bench) phase(ctx context.Context, ns string, n, workers int) (phaseResult, error) {
	if _, err := b.core.CoreV1().Namespaces().Create(ctx, cluster.Namespace(ns), metav1.CreateOptions{}); err != nil {
		return phaseResult{}, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	reviews0, warnings0, live0 := b.reviews(), b.warnings.Load(), b.env.LiveReads.Load()
	b.otherNanos.Store(0)
	b.otherCreates.Store(0)
	cpu0, err := cluster.CPUTimes()
	if err != nil {
		return phaseResult{}, err
	}
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := b.create(ctx, ns, i); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	cpu1, err := cluster.CPUTimes()
	if err != nil {
		return phaseResult{}, err
	}
	cpu := map[string]time.Duration{}
	var total time.Duration
	for name, d := range cpu1 {
		cpu[name] = d - cpu0[name]
		total += cpu[name]
	}
	if first != nil {
		return phaseResult{}, first
	}
	if err := ctx.Err(); err != nil {
		return phaseResult{}, err
	}
	var otherMean time.Duration
	if n := b.otherCreates.Load(); n > 0 {
		otherMean = time.Duration(b.otherNanos.Load() / n)
	}
	return phaseResult{Namespace: ns, Wall: wall, Reviews: b.reviews() - reviews0, Warnings: b.warnings.Load() - warnings0,
		LiveReads: b.env.LiveReads.Load() - live0, CPU: total, CPUBy: cpu, OtherMean: otherMean}, nil
}

func (b *bench) create(ctx context.Context, ns string, i int) error {
	if b.otherOnly || (b.mix && i%2 == 1) {
		return b.createOther(ctx, ns, i)
	}
	snap := fmt.Sprintf("snap-%d", i)
	content := fmt.Sprintf("%s-content-%d", ns, i)
	c := cluster.Content(content, ns, snap, benchClass, cluster.Handle(ns, i))
	if _, err := b.snaps.SnapshotV1().VolumeSnapshotContents().Create(ctx, c, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshotContent %s: %w", content, err)
	}
	s := cluster.Snapshot(ns, snap, content, benchClass)
	if _, err := b.snaps.SnapshotV1().VolumeSnapshots(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshot %s/%s: %w", ns, snap, err)
	}
	return nil
}

// createOther creates what another CSI driver's snapshot looks like: a dynamic
// VolumeSnapshot (persistentVolumeClaimName) and a VolumeSnapshotContent of
// otherDriver, as its snapshot controller would; the matchConditions send neither.
// The two creates' latency is summed into otherNanos.
func (b *bench) createOther(ctx context.Context, ns string, i int) error {
	snap := fmt.Sprintf("snap-%d", i)
	content := fmt.Sprintf("%s-content-%d", ns, i)
	c := cluster.Content(content, ns, snap, otherClass, fmt.Sprintf("snapshot-%s-%d", ns, i))
	c.Spec.Driver = otherDriver
	s := cluster.Snapshot(ns, snap, "", otherClass)
	s.Spec.Source = snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To(fmt.Sprintf("data-%d", i))}
	start := time.Now()
	if _, err := b.snaps.SnapshotV1().VolumeSnapshotContents().Create(ctx, c, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshotContent %s: %w", content, err)
	}
	if _, err := b.snaps.SnapshotV1().VolumeSnapshots(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create VolumeSnapshot %s/%s: %w", ns, snap, err)
	}
	b.otherNanos.Add(int64(time.Since(start)))
	b.otherCreates.Add(2)
	return nil
}
