package populator

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/snaprestore/snaprestore/restore"
)

// Reporter publishes a populate's progress as AnnProgress on the pod itself,
// at most every Interval, for the controller to copy into the BackupSource
// status. The pod's ServiceAccount needs patch on pods in its namespace and
// nothing else (the chart's populator Role).
type Reporter struct {
	pods      podPatcher
	namespace string
	name      string
	interval  time.Duration

	mu       sync.Mutex
	last     time.Time
	inflight sync.WaitGroup
	busy     bool
}

// podPatcher is the one call the reporter makes.
type podPatcher interface {
	Patch(ctx context.Context, ns, name string, patch []byte) error
}

type clientsetPatcher struct{ cs kubernetes.Interface }

func (c clientsetPatcher) Patch(ctx context.Context, ns, name string, patch []byte) error {
	_, err := c.cs.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// NewReporter reports on pod namespace/name through cfg, every interval
// (default 2s), the first time an interval after it was made: a restore
// shorter than that sends no progress, only its result (the controller has
// already set the BackupSource Populating; a first report at 0 % only cost
// the API server and the controller work while the restore used the CPUs).
func NewReporter(cfg *rest.Config, namespace, name string, interval time.Duration) (*Reporter, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("progress reporter: %w", err)
	}
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return &Reporter{pods: clientsetPatcher{cs}, namespace: namespace, name: name, interval: interval, last: time.Now()}, nil
}

// Update is a restore.Options.Progress callback; it never blocks the restore:
// the patch runs in the background, and an update while one is in flight is
// dropped. A failed patch is dropped too: progress is advisory, the result
// is the termination message.
func (r *Reporter) Update(ctx context.Context, p restore.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.last) < r.interval || r.busy {
		return
	}
	r.last, r.busy = now, true
	patch := annotationPatch(AnnProgress, fmt.Sprintf("%d/%d", p.Bytes, p.TotalBytes))
	r.inflight.Add(1)
	go func() {
		defer r.inflight.Done()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = r.pods.Patch(ctx, r.namespace, r.name, patch)
		r.mu.Lock()
		r.busy = false
		r.mu.Unlock()
	}()
}

// Wait waits for the patch in flight, if any.
func (r *Reporter) Wait() { r.inflight.Wait() }

// succeededTimeout bounds Reporter.Succeeded's patch.
const succeededTimeout = time.Second

// Succeeded publishes res, the Result of a population whose volume is
// written and synced, as AnnResult on the pod, after any progress patch in
// flight. Only a success is published this way: a failure's retry or stop
// follows the pod's exit code and phase.
func (r *Reporter) Succeeded(ctx context.Context, res Result) error {
	r.Wait()
	doc, err := encodeResult(res)
	if err != nil {
		return err
	}
	patch := annotationPatch(AnnResult, string(doc))
	// No longer than the kubelet takes to notice the exit, which reports the
	// same result: where the API server is out of the pod's reach (a network
	// policy), the pod exits after a second, not after a long timeout.
	ctx, cancel := context.WithTimeout(ctx, succeededTimeout)
	defer cancel()
	if err := r.pods.Patch(ctx, r.namespace, r.name, patch); err != nil {
		return fmt.Errorf("publish the result on pod %s/%s: %w", r.namespace, r.name, err)
	}
	return nil
}

// annotationPatch is the merge patch setting the pod's annotation key to value.
func annotationPatch(key, value string) []byte {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	return patch
}
