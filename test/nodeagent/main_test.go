package nodeagent

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// One API server, controller-manager, scheduler and agent for the package's
// control-plane tests, started by the first that needs it (the rule tests run
// without); each test works in a namespace of its own.
var (
	agent    *Cluster
	kube     client.Client
	nsSeq    atomic.Int32
	startErr error
	started  sync.Once
	stops    []func() error
)

// waitWithin bounds every wait of these tests: generous for a loaded 2-core machine.
const waitWithin = 2 * time.Minute

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(stops) - 1; i >= 0; i-- {
		if err := stops[i](); err != nil {
			fmt.Fprintln(os.Stderr, "stop:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func startCluster() error {
	dir, err := os.MkdirTemp("", "nodeagent-test-")
	if err != nil {
		return err
	}
	stops = append(stops, func() error { return os.RemoveAll(dir) })
	env, cfg, err := testenv.StartEnv(testenv.Options{})
	if err != nil {
		return err
	}
	stops = append(stops, env.Stop)
	// NODEAGENT_ARTIFACTS keeps the processes' and pods' logs after the run.
	artifacts := cmp.Or(os.Getenv("NODEAGENT_ARTIFACTS"), filepath.Join(dir, "artifacts"))
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		return err
	}
	a, err := Start(context.Background(), cfg, Options{Dir: dir, ArtifactsDir: artifacts, Images: map[string]string{"busybox": "/bin/sh"}})
	if err != nil {
		return fmt.Errorf("start node agent: %w", err)
	}
	agent = a
	stops = append(stops, a.Stop)
	kube, err = client.New(cfg, client.Options{})
	return err
}

// namespace starts the shared cluster if needed and creates a fresh namespace for t.
func namespace(t *testing.T) string {
	t.Helper()
	started.Do(func() { startErr = startCluster() })
	if startErr != nil {
		t.Fatal(startErr)
	}
	name := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	name = name[:min(len(name), 60)]
	if err := kube.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// waitFor polls cond until it holds, failing t with what and cond's last note
// after waitWithin.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitWithin)
	defer cancel()
	for {
		ok, note := cond(ctx)
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s; last seen: %s", what, waitWithin, note)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func claim(ns, name, class string, mode corev1.PersistentVolumeMode, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class, VolumeMode: &mode,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

// shPod runs script with sh in image busybox, restart policy Never unless set.
func shPod(ns, name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "main", Image: "busybox", Command: []string{"sh", "-c", script}}}},
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := kube.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// waitBound waits for the claim to be Bound and returns it.
func waitBound(t *testing.T, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	waitFor(t, "claim "+ns+"/"+name+" Bound", func(ctx context.Context) (bool, string) {
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pvc)
		return err == nil && pvc.Status.Phase == corev1.ClaimBound, fmt.Sprintf("phase %q err %v annotations %v", pvc.Status.Phase, err, pvc.Annotations)
	})
	return &pvc
}

// waitPhase waits for the pod to reach phase and returns it.
func waitPhase(t *testing.T, ns, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	waitFor(t, fmt.Sprintf("pod %s/%s %s", ns, name, phase), func(ctx context.Context) (bool, string) {
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pod)
		return err == nil && pod.Status.Phase == phase, fmt.Sprintf("phase %q reason %q message %q statuses %v err %v",
			pod.Status.Phase, pod.Status.Reason, pod.Status.Message, pod.Status.ContainerStatuses, err)
	})
	return &pod
}

func pvPath(t *testing.T, pv string) string {
	t.Helper()
	p, err := agent.PVPath(context.Background(), pv)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func metaIn(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
