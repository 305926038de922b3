package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestImmediateFilesystemAndBlock(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	create(t, claim(ns, "fs", ImmediateClass, corev1.PersistentVolumeFilesystem, "16Mi"),
		claim(ns, "blk", ImmediateClass, corev1.PersistentVolumeBlock, "8Mi"))
	fs, blk := waitBound(t, ns, "fs"), waitBound(t, ns, "blk")
	if fi, err := os.Stat(pvPath(t, blk.Spec.VolumeName)); err != nil || fi.Size() != 8<<20 {
		t.Fatalf("block backing file of %s: %v, %v; want an 8 MiB file", blk.Spec.VolumeName, fi, err)
	}
	pod := shPod(ns, "writer", "echo hi > /data/x && printf block | dd of=/dev/xvdb bs=512 seek=1 conv=notrunc 2>/dev/null")
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "fs", MountPath: "/data"}}
	pod.Spec.Containers[0].VolumeDevices = []corev1.VolumeDevice{{Name: "blk", DevicePath: "/dev/xvdb"}}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "fs", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "fs"}}},
		{Name: "blk", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "blk"}}},
	}
	create(t, pod)
	done := waitPhase(t, ns, "writer", corev1.PodSucceeded)
	if done.Spec.NodeName != agent.Node {
		t.Errorf("pod bound to node %q, want %q", done.Spec.NodeName, agent.Node)
	}
	if got, err := os.ReadFile(filepath.Join(pvPath(t, fs.Spec.VolumeName), "x")); err != nil || string(got) != "hi\n" {
		t.Errorf("file x of the Filesystem volume: %q, %v; want \"hi\\n\"", got, err)
	}
	img, err := os.ReadFile(pvPath(t, blk.Spec.VolumeName))
	if err != nil || len(img) != 8<<20 || string(img[512:517]) != "block" {
		t.Errorf("block image: %d bytes, %v; want 8 MiB with \"block\" at offset 512", len(img), err)
	}
	// Deleting the claims deletes the PVs and their data (reclaim policy Delete).
	for _, c := range []*corev1.PersistentVolumeClaim{fs, blk} {
		path := pvPath(t, c.Spec.VolumeName)
		if err := kube.Delete(context.Background(), done); client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
		if err := kube.Delete(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "PV "+c.Spec.VolumeName+" and its data deleted", func(ctx context.Context) (bool, string) {
			err := kube.Get(ctx, client.ObjectKey{Name: c.Spec.VolumeName}, &corev1.PersistentVolume{})
			_, serr := os.Stat(path)
			return apierrors.IsNotFound(err) && errors.Is(serr, os.ErrNotExist), fmt.Sprintf("get PV: %v; stat data: %v", err, serr)
		})
	}
}

func TestWaitForFirstConsumer(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	create(t, claim(ns, "late", WFCClass, corev1.PersistentVolumeFilesystem, "1Mi"))
	// The PV binder's event says it decided to wait; only then is Pending meaningful.
	waitFor(t, "WaitForFirstConsumer event of claim late", func(ctx context.Context) (bool, string) {
		var evs corev1.EventList
		err := kube.List(ctx, &evs, client.InNamespace(ns))
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "late" && e.Reason == "WaitForFirstConsumer" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, err %v", len(evs.Items), err)
	})
	var pvc corev1.PersistentVolumeClaim
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "late"}, &pvc); err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.Annotations[annSelectedNode] != "" {
		t.Fatalf("claim without consumer: phase %s, volume %q, selected node %q; want Pending, none, none",
			pvc.Status.Phase, pvc.Spec.VolumeName, pvc.Annotations[annSelectedNode])
	}
	pod := shPod(ns, "consumer", "echo used > /mnt/v/f")
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/mnt/v"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "late"}}}}
	create(t, pod)
	waitPhase(t, ns, "consumer", corev1.PodSucceeded)
	bound := waitBound(t, ns, "late")
	if got := bound.Annotations[annSelectedNode]; got != agent.Node {
		t.Errorf("annotation %s = %q, want the scheduler's choice %q", annSelectedNode, got, agent.Node)
	}
	if got, err := os.ReadFile(filepath.Join(pvPath(t, bound.Spec.VolumeName), "f")); err != nil || string(got) != "used\n" {
		t.Errorf("file f: %q, %v; want \"used\\n\"", got, err)
	}
}

// populatorClaim is a claim whose data source is a kind no provisioner knows, as a
// volume populator's claims are.
func populatorClaim(ns, name string) *corev1.PersistentVolumeClaim {
	pvc := claim(ns, name, ImmediateClass, corev1.PersistentVolumeFilesystem, "1Mi")
	group := "example.com"
	pvc.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &group, Kind: "Widget", Name: "w"}
	return pvc
}

func TestDataSourceOfUnknownKindIsNotProvisioned(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	create(t, populatorClaim(ns, "populated"))
	waitFor(t, "claim populated handed to the provisioner", func(ctx context.Context) (bool, string) {
		var pvc corev1.PersistentVolumeClaim
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "populated"}, &pvc)
		return pvc.Annotations[annStorageProvisioner] == agent.Provisioner, fmt.Sprintf("annotations %v err %v", pvc.Annotations, err)
	})
	// The provisioner's one worker takes claims in order: once a later claim is
	// Bound, the earlier one has been decided on.
	create(t, claim(ns, "later", ImmediateClass, corev1.PersistentVolumeFilesystem, "1Mi"))
	waitBound(t, ns, "later")
	var pvc corev1.PersistentVolumeClaim
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "populated"}, &pvc); err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim with a Widget dataSourceRef: volume %q, phase %s; want none, Pending", pvc.Spec.VolumeName, pvc.Status.Phase)
	}
	err := kube.Get(context.Background(), client.ObjectKey{Name: "pvc-" + string(pvc.UID)}, &corev1.PersistentVolume{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("PV for the Widget claim: %v; want none", err)
	}
}

// TestRebindByClaimRef is the populator's last step, done by the real PV binder:
// the PV of claim A is handed to claim B by pointing its claimRef at B.
func TestRebindByClaimRef(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	create(t, claim(ns, "prime", ImmediateClass, corev1.PersistentVolumeFilesystem, "1Mi"))
	a := waitBound(t, ns, "prime")
	b := populatorClaim(ns, "user")
	create(t, b)
	ctx := context.Background()
	var pv corev1.PersistentVolume
	if err := kube.Get(ctx, client.ObjectKey{Name: a.Spec.VolumeName}, &pv); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(pvPath(t, pv.Name), "kept")
	if err := os.WriteFile(data, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(pv.DeepCopy())
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: b.Name, UID: b.UID}
	if err := kube.Patch(ctx, &pv, patch); err != nil {
		t.Fatal(err)
	}
	if err := kube.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	bound := waitBound(t, ns, "user")
	if bound.Spec.VolumeName != pv.Name {
		t.Errorf("claim user bound to %q, want the rebound PV %q", bound.Spec.VolumeName, pv.Name)
	}
	if got, err := os.ReadFile(data); err != nil || string(got) != "data" {
		t.Errorf("data of the rebound PV: %q, %v; want it kept", got, err)
	}
}

func TestFailureAndTerminationMessage(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	// "killed" writes its message, then dies of SIGKILL: the message is read
	// after the process is gone, as the kubelet does ($$$$ is $$ after the
	// kubelet's $(VAR) expansion).
	create(t, shPod(ns, "fails", "echo boom >&2; exit 3"), shPod(ns, "says", "printf done > /dev/termination-log"),
		shPod(ns, "killed", "printf partial > /dev/termination-log; echo tail >&2; kill -9 $$$$"))
	st := waitPhase(t, ns, "fails", corev1.PodFailed).Status.ContainerStatuses
	if len(st) != 1 || st[0].State.Terminated == nil || st[0].State.Terminated.ExitCode != 3 ||
		st[0].State.Terminated.Reason != "Error" || st[0].State.Terminated.Message != "boom\n" {
		t.Errorf("failed container status %+v; want terminated, exit code 3, reason Error, message boom", st)
	}
	st = waitPhase(t, ns, "says", corev1.PodSucceeded).Status.ContainerStatuses
	if len(st) != 1 || st[0].State.Terminated == nil || st[0].State.Terminated.Message != "done" {
		t.Errorf("container status %+v; want the termination message done", st)
	}
	st = waitPhase(t, ns, "killed", corev1.PodFailed).Status.ContainerStatuses
	if len(st) != 1 || st[0].State.Terminated == nil || st[0].State.Terminated.ExitCode != 137 || st[0].State.Terminated.Message != "partial" {
		t.Errorf("killed container status %+v; want exit code 137 and the termination message partial", st)
	}
}

func TestOnFailureRestarts(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	pod := shPod(ns, "retry", `test -f "$HOME/once" && exit 0; touch "$HOME/once"; exit 1`)
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	create(t, pod)
	st := waitPhase(t, ns, "retry", corev1.PodSucceeded).Status.ContainerStatuses
	if len(st) != 1 || st[0].RestartCount != 1 || st[0].LastTerminationState.Terminated == nil ||
		st[0].LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("container status %+v; want one restart after exit code 1", st)
	}
}

func TestKillAndDelete(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	create(t, shPod(ns, "killed", "sleep 600"), shPod(ns, "deleted", "sleep 600"))
	waitPhase(t, ns, "killed", corev1.PodRunning)
	if err := agent.Kill(ns, "killed"); err != nil {
		t.Fatal(err)
	}
	st := waitPhase(t, ns, "killed", corev1.PodFailed).Status.ContainerStatuses
	if len(st) != 1 || st[0].State.Terminated == nil || st[0].State.Terminated.ExitCode != 137 {
		t.Errorf("killed container status %+v; want exit code 137 (SIGKILL)", st)
	}
	if err := agent.Kill(ns, "killed"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Kill of a finished pod: %v; want ErrNotRunning", err)
	}
	running := waitPhase(t, ns, "deleted", corev1.PodRunning)
	pid := strings.TrimPrefix(running.Status.ContainerStatuses[0].ContainerID, "nodeagent://")
	if err := kube.Delete(context.Background(), running); err != nil { // graceful, 30 s
		t.Fatal(err)
	}
	waitFor(t, "pod deleted gracefully, its process gone", func(ctx context.Context) (bool, string) {
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "deleted"}, &corev1.Pod{})
		_, serr := os.Stat("/proc/" + pid)
		return apierrors.IsNotFound(err) && serr != nil, fmt.Sprintf("get pod: %v; process %s: %v", err, pid, serr)
	})
}

func TestEnvAndObjectVolumes(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	create(t, &corev1.Secret{ObjectMeta: metaIn(ns, "creds"), Data: map[string][]byte{"key": []byte("s3cret")}},
		&corev1.ConfigMap{ObjectMeta: metaIn(ns, "conf"), Data: map[string]string{"MODE": "fast", "file.txt": "content"}})
	pod := shPod(ns, "env", `printf '%s %s %s %s %s' "$KEY" "$MODE" "$NAME" "$ARG" "$(cat /etc/conf/file.txt)" > /scratch/out; cp /scratch/out /out/out`)
	c := &pod.Spec.Containers[0]
	c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}}
	c.Env = []corev1.EnvVar{
		{Name: "KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "key"}}},
		{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "ARG", Value: "$(MODE)-$(NAME)"},
	}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/conf"}, {Name: "scratch", MountPath: "/scratch"}, {Name: "out", MountPath: "/out"}}
	create(t, claim(ns, "out", ImmediateClass, corev1.PersistentVolumeFilesystem, "1Mi"))
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "out", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "out"}}},
	}
	create(t, pod)
	waitPhase(t, ns, "env", corev1.PodSucceeded)
	got, err := os.ReadFile(filepath.Join(pvPath(t, waitBound(t, ns, "out").Spec.VolumeName), "out"))
	if want := "s3cret fast env fast-env content"; err != nil || string(got) != want {
		t.Errorf("output %q, %v; want %q", got, err, want)
	}
}

func TestRefusesWhatItCannotRun(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	unknown := shPod(ns, "image", "true")
	unknown.Spec.Containers[0].Image = "registry.example/none:1"
	vol := shPod(ns, "volume", "true")
	vol.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}}}
	create(t, unknown, vol)
	for name, want := range map[string]string{
		"image":  `spec.containers[0].image: image "registry.example/none:1" is not one of nodeagent Options.Images (busybox)`,
		"volume": `spec.volumes[0]: volume "d": only persistentVolumeClaim, emptyDir, secret, configMap and hostPath are implemented`,
	} {
		pod := waitPhase(t, ns, name, corev1.PodFailed)
		if pod.Status.Reason != "NodeAgentUnsupported" || !strings.HasPrefix(pod.Status.Message, want) {
			t.Errorf("pod %s: reason %q message %q; want NodeAgentUnsupported, %q", name, pod.Status.Reason, pod.Status.Message, want)
		}
	}
}
