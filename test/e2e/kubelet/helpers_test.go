package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// waitLimit bounds every wait: generous, for two cores shared by many.
// The tests create and change objects with kubectl, as a user does; their
// polls read through the API client, one request each, so that nine tests
// waiting at once do not start dozens of kubectl processes a second.
const waitLimit = 5 * time.Minute

func kubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	return c.MustKubectl(t, stdin, args...)
}

// waitUntil polls cond every 250ms up to waitLimit, failing with what and the
// last state; a provisioner failure ends it at once.
func waitUntil(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		if err := prov.firstError(); err != nil {
			t.Fatalf("%s: the provisioner failed: %v", what, err)
		}
		last = state
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last state: %s", what, waitLimit, last)
}

// object reads ns/name into obj; false when it does not exist.
func object(t testing.TB, ns, name string, obj client.Object) bool {
	t.Helper()
	err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("get %T %s/%s: %v", obj, ns, name, err)
	}
	return true
}

// lookup is the object ns/name of type T (nil when it does not exist).
func lookup[T any, P interface {
	*T
	client.Object
}](t testing.TB, ns, name string) P {
	t.Helper()
	obj := P(new(T))
	if !object(t, ns, name, obj) {
		return nil
	}
	return obj
}

func pvcOf(t testing.TB, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	return lookup[corev1.PersistentVolumeClaim](t, ns, name)
}

func podOf(t testing.TB, ns, name string) *corev1.Pod {
	t.Helper()
	return lookup[corev1.Pod](t, ns, name)
}

func pvOf(t testing.TB, name string) *corev1.PersistentVolume {
	t.Helper()
	return lookup[corev1.PersistentVolume](t, "", name)
}

// phase is the PVC's phase, "" when it does not exist.
func phase(t testing.TB, ns, name string) corev1.PersistentVolumeClaimPhase {
	t.Helper()
	if pvc := pvcOf(t, ns, name); pvc != nil {
		return pvc.Status.Phase
	}
	return ""
}

// backupSource is the BackupSource ns/name (nil when it does not exist).
func backupSource(t testing.TB, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("snaprestore.io/v1alpha1")
	u.SetKind("BackupSource")
	if !object(t, ns, name, u) {
		return nil
	}
	return u
}

// sourceStatus is status.phase and status.message of a BackupSource.
func sourceStatus(t testing.TB, ns, name string) (phase, message string) {
	t.Helper()
	u := backupSource(t, ns, name)
	if u == nil {
		return "", ""
	}
	phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
	message, _, _ = unstructured.NestedString(u.Object, "status", "message")
	return phase, message
}

// events lists the events of the object name in ns, "type reason: message"
// a line, oldest first.
func events(t testing.TB, ns, name string) string {
	t.Helper()
	var list corev1.EventList
	if err := c.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("list events in %s: %v", ns, err)
	}
	sort.SliceStable(list.Items, func(i, j int) bool {
		return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp)
	})
	var b strings.Builder
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			fmt.Fprintf(&b, "%s %s: %s\n", e.Type, e.Reason, e.Message)
		}
	}
	return b.String()
}

// namespace creates ns with kubectl.
func namespace(t testing.TB, ns string) string {
	t.Helper()
	kubectl(t, "", "create", "namespace", ns)
	return ns
}

// apply creates a BackupSource and a PVC of mode, class and size populated
// from it; secret, when set, is the BackupSource's backupstoreSecretRef.
// It returns the PVC's UID, which names the prime PVC and the pod.
func apply(t testing.TB, ns, name, backup, class, mode, size, secret string) string {
	t.Helper()
	ref := ""
	if secret != "" {
		ref = "\n  backupstoreSecretRef: {name: " + secret + "}"
	}
	kubectl(t, fmt.Sprintf(`apiVersion: snaprestore.io/v1alpha1
kind: BackupSource
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  backup: %[3]s%[6]s
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  storageClassName: %[4]s
  volumeMode: %[7]s
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: %[5]s}}
  dataSourceRef: {apiGroup: snaprestore.io, kind: BackupSource, name: %[1]s}
`, name, ns, backup, class, size, ref, mode), "apply", "-f", "-")
	pvc := pvcOf(t, ns, name)
	if pvc == nil {
		t.Fatalf("PVC %s/%s not found after kubectl apply", ns, name)
	}
	return string(pvc.UID)
}

// waitBound waits for the PVC to be Bound, failing at once on a
// PopulateFailed event, and returns its PV.
func waitBound(t testing.TB, ns, name string) *corev1.PersistentVolume {
	t.Helper()
	waitUntil(t, "PVC "+ns+"/"+name+" Bound", func() (bool, string) {
		ev := events(t, ns, name)
		if strings.Contains(ev, "PopulateFailed") {
			t.Fatalf("population of %s/%s failed:\n%s", ns, name, ev)
		}
		p := phase(t, ns, name)
		return p == corev1.ClaimBound, fmt.Sprintf("phase %q; events:\n%s", p, ev)
	})
	pv := pvOf(t, pvcOf(t, ns, name).Spec.VolumeName)
	if pv == nil || pv.Spec.Local == nil {
		t.Fatalf("PVC %s/%s is bound to %+v, not one of the provisioner's local PVs", ns, name, pv)
	}
	return pv
}

// checkDevice compares the sha256 of the Block PV's loop device with want.
func checkDevice(t testing.TB, pv *corev1.PersistentVolume, want string) {
	t.Helper()
	if got := testenv.FileSHA256(t, pv.Spec.Local.Path); got != want {
		t.Errorf("sha256 of the populated device %s (PV %s) = %s; want %s", pv.Spec.Local.Path, pv.Name, got, want)
	}
}

// leftovers lists what the populator made for the PVC of uid that still
// exists: its pod, prime PVC and copied Secret, and a PV claimed by the prime.
func leftovers(t testing.TB, uid string) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for kind, list := range map[string]client.ObjectList{
		"pod": &corev1.PodList{}, "pvc": &corev1.PersistentVolumeClaimList{}, "secret": &corev1.SecretList{},
	} {
		if err := c.Client.List(ctx, list, client.InNamespace(controllerNS)); err != nil {
			t.Fatal(err)
		}
		var names []string
		_ = apimeta.EachListItem(list, func(o runtime.Object) error {
			names = append(names, o.(client.Object).GetName())
			return nil
		})
		for _, n := range names {
			if strings.HasSuffix(n, uid) {
				out = append(out, kind+"/"+n)
			}
		}
	}
	var pvs corev1.PersistentVolumeList
	if err := c.Client.List(ctx, &pvs); err != nil {
		t.Fatal(err)
	}
	for _, pv := range pvs.Items {
		if r := pv.Spec.ClaimRef; r != nil && r.Namespace == controllerNS && strings.HasSuffix(r.Name, uid) {
			out = append(out, "pv/"+pv.Name)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// waitSucceeded waits for kubectl get backupsources to show the BackupSource
// Succeeded at 100% and for the populator's objects of uid to be gone, then
// checks the PVC's events of a population.
func waitSucceeded(t testing.TB, ns, name, uid string) {
	t.Helper()
	waitUntil(t, "BackupSource Succeeded, populator pod and prime PVC gone", func() (bool, string) {
		p, msg := sourceStatus(t, ns, name)
		left := leftovers(t, uid)
		return p == "Succeeded" && left == "", p + " " + msg + "; left: " + left
	})
	if out := kubectl(t, "", "get", "backupsources", "-n", ns, name); !strings.Contains(out, "Succeeded") || !strings.Contains(out, "100%") {
		t.Errorf("kubectl get backupsources shows no Succeeded at 100%%:\n%s", out)
	}
	eventsContain(t, ns, name, "Normal PopulateStarted", "Normal PopulateVerified", "Normal Bound")
}

// eventsContain waits until the PVC's events contain each of wants (the
// controller's recorder writes them asynchronously) and returns them.
func eventsContain(t testing.TB, ns, name string, wants ...string) string {
	t.Helper()
	var ev string
	waitUntil(t, "the PVC's events", func() (bool, string) {
		ev = events(t, ns, name)
		for _, want := range wants {
			if !strings.Contains(ev, want) {
				return false, fmt.Sprintf("events lack %q:\n%s", want, ev)
			}
		}
		return true, ""
	})
	return ev
}

// consumerSHA runs a pod with claim as a raw block device and returns the
// sha256 it computed, passed back as its termination message.
func consumerSHA(t testing.TB, ns, claim string) string {
	t.Helper()
	startConsumer(t, ns, claim)
	return consumerResult(t, ns)
}

// startConsumer creates the pod "reader" that maps claim and writes the
// sha256 of the device as its termination message.
func startConsumer(t testing.TB, ns, claim string) {
	t.Helper()
	kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: %s}
spec:
  restartPolicy: Never
  containers:
  - name: read
    image: %s
    imagePullPolicy: Never
    command: [/bin/sh, -c, "sha256sum /dev/data | cut -d' ' -f1 > /dev/termination-log"]
    volumeDevices: [{name: data, devicePath: /dev/data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: %s}}]
`, ns, busyboxImage, claim), "apply", "-f", "-")
}

// consumerResult waits for the pod "reader" to succeed and returns its
// termination message.
func consumerResult(t testing.TB, ns string) string {
	t.Helper()
	var pod *corev1.Pod
	waitUntil(t, "consumer pod Succeeded", func() (bool, string) {
		pod = podOf(t, ns, "reader")
		if pod == nil {
			return false, "no pod"
		}
		if pod.Status.Phase == corev1.PodFailed {
			t.Fatalf("consumer pod failed: %+v", pod.Status.ContainerStatuses)
		}
		return pod.Status.Phase == corev1.PodSucceeded, fmt.Sprintf("%s %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
	})
	if len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Fatalf("consumer pod Succeeded without a terminated container: %+v", pod.Status)
	}
	return strings.TrimSpace(pod.Status.ContainerStatuses[0].State.Terminated.Message)
}
