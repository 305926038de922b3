package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ErrNotRunning is returned by Kill for a pod with no running process.
var ErrNotRunning = errors.New("pod has no running process on the test node")

// kubelet runs the pods bound to the agent's node as host processes and reports
// their status, as the kubelet does.
type kubelet struct {
	c                 client.Client // cached: pods of this node, claims, volumes
	api               client.Reader // uncached: secrets and configmaps
	node, provisioner string
	dir, logDir       string
	images            map[string]string
	env               []string
	log               logr.Logger

	mu   sync.Mutex
	runs map[types.NamespacedName]*podRun
}

func (k *kubelet) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	k.mu.Lock()
	run := k.runs[req.NamespacedName]
	k.mu.Unlock()
	var pod corev1.Pod
	err := k.c.Get(ctx, req.NamespacedName, &pod)
	if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	if run != nil && (err != nil || run.uid != pod.UID) { // deleted at once, or replaced
		k.forget(req.NamespacedName, run, 0)
		run = nil
	}
	if err != nil || pod.Spec.NodeName != k.node {
		return reconcile.Result{}, nil
	}
	if pod.DeletionTimestamp != nil {
		grace := time.Duration(0)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		}
		if run != nil {
			k.forget(req.NamespacedName, run, grace)
		}
		// The kubelet ends a graceful deletion once the containers are gone.
		return reconcile.Result{}, client.IgnoreNotFound(k.c.Delete(ctx, &pod,
			client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID}))
	}
	if run != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return reconcile.Result{}, nil
	}
	return k.start(ctx, &pod)
}

// forget stops run (SIGTERM, SIGKILL after grace) and drops it.
func (k *kubelet) forget(key types.NamespacedName, run *podRun, grace time.Duration) {
	run.stop(grace)
	k.mu.Lock()
	if k.runs[key] == run {
		delete(k.runs, key)
	}
	k.mu.Unlock()
}

// start plans the pod's containers and runs them. A pod it cannot run is set
// Failed with the reason; a missing claim, secret or configmap is retried, with
// the container waiting, as the kubelet retries.
func (k *kubelet) start(ctx context.Context, pod *corev1.Pod) (reconcile.Result, error) {
	specs, err := k.plan(ctx, pod)
	if errors.Is(err, ErrUnsupported) {
		k.log.Info("Refusing pod", "pod", client.ObjectKeyFromObject(pod), "reason", err.Error())
		return reconcile.Result{}, k.updateStatus(ctx, pod, func(p *corev1.Pod) { refused(p, "NodeAgentUnsupported", err) })
	}
	if err != nil {
		waiting := make([]corev1.ContainerStatus, len(pod.Spec.Containers))
		for i, c := range pod.Spec.Containers {
			waiting[i] = corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}}
		}
		uerr := k.updateStatus(ctx, pod, func(p *corev1.Pod) { setPodStatus(p, waiting, time.Now()) })
		return reconcile.Result{RequeueAfter: 2 * time.Second}, uerr
	}
	run := newPodRun(pod, specs)
	k.mu.Lock()
	k.runs[client.ObjectKeyFromObject(pod)] = run
	k.mu.Unlock()
	go k.runPod(run, pod.DeepCopy())
	return reconcile.Result{}, nil
}

// plan resolves volumes, env and commands of every container of pod.
func (k *kubelet) plan(ctx context.Context, pod *corev1.Pod) ([]procSpec, error) {
	if len(pod.Spec.InitContainers) > 0 {
		return nil, fmt.Errorf("spec.initContainers: init containers are not implemented: %w", ErrUnsupported)
	}
	podDir := filepath.Join(k.dir, "pods", string(pod.UID))
	vols, err := k.podVolumes(ctx, pod, podDir)
	if err != nil {
		return nil, err
	}
	src, err := k.envSources(ctx, pod.Namespace)
	if err != nil {
		return nil, err
	}
	specs := make([]procSpec, len(pod.Spec.Containers))
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		work := containerDir(k.dir, string(pod.UID), c.Name)
		if err := os.MkdirAll(work, 0o777); err != nil {
			return nil, err
		}
		fp := field.NewPath("spec", "containers").Index(i)
		if specs[i], err = planContainer(pod, c, fp, k.images, vols, src, work); err != nil {
			return nil, err
		}
		specs[i].env = append(append([]string{"HOME=" + work, "PATH=" + os.Getenv("PATH")}, k.env...), specs[i].env...)
	}
	return specs, nil
}

// containerDir is the work dir of a container of the pod of uid under dir.
func containerDir(dir, uid, container string) string {
	return filepath.Join(dir, "pods", uid, "containers", container)
}

// runPod runs the containers of pod concurrently, reporting each change of state.
func (k *kubelet) runPod(run *podRun, pod *corev1.Pod) {
	report := func() {
		// One report at a time, each with the newest states: a slower write of an
		// older snapshot would otherwise land last.
		run.reportMu.Lock()
		defer run.reportMu.Unlock()
		if run.ctx.Err() != nil {
			return // being deleted: the pod's status no longer matters
		}
		statuses := run.snapshot()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := k.updateStatus(ctx, pod, func(p *corev1.Pod) { setPodStatus(p, statuses, time.Now()) }); err != nil {
			k.log.Error(err, "Update pod status", "pod", client.ObjectKeyFromObject(pod))
		}
	}
	report()
	var wg sync.WaitGroup
	for i, spec := range run.specs {
		logPath := filepath.Join(k.logDir, "pods", pod.Namespace+"_"+pod.Name, spec.name+".log")
		wg.Go(func() { run.container(i, spec, logPath, pod.Spec.RestartPolicy, report) })
	}
	wg.Wait()
	close(run.done)
}

// updateStatus applies change to the latest pod (same UID) and writes its status.
func (k *kubelet) updateStatus(ctx context.Context, pod *corev1.Pod, change func(*corev1.Pod)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur corev1.Pod
		if err := k.api.Get(ctx, client.ObjectKeyFromObject(pod), &cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		if cur.UID != pod.UID {
			return nil
		}
		change(&cur)
		return client.IgnoreNotFound(k.c.Status().Update(ctx, &cur))
	})
}

// kill sends SIGKILL to the running processes of pod key.
func (k *kubelet) kill(key types.NamespacedName) error {
	k.mu.Lock()
	run := k.runs[key]
	k.mu.Unlock()
	if run == nil || run.signal(sigKill) == 0 {
		return fmt.Errorf("kill pod %s: %w", key, ErrNotRunning)
	}
	return nil
}

// stopAll stops every pod, for the agent's shutdown.
func (k *kubelet) stopAll() {
	k.mu.Lock()
	runs := k.runs
	k.runs = map[types.NamespacedName]*podRun{}
	k.mu.Unlock()
	for _, r := range runs {
		r.stop(0)
	}
}
