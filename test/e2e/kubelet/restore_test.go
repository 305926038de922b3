package kubelet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// waitLimit bounds every wait: generous, for two cores shared by many.
const waitLimit = 5 * time.Minute

func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	return c.MustKubectl(t, stdin, args...)
}

// get is one jsonpath field of an object ("" when it does not exist).
func get(t *testing.T, ns, kind, name, path string) string {
	t.Helper()
	r, err := c.Kubectl(context.Background(), t.TempDir(), "", "get", kind, "-n", ns, name, "--ignore-not-found", "-o", "jsonpath="+path)
	if err != nil || r.Exit != 0 {
		t.Fatalf("kubectl get %s %s/%s: exit %d, %v: %s", kind, ns, name, r.Exit, err, r.Stderr)
	}
	return r.Stdout
}

// waitUntil polls cond every 500ms up to waitLimit, failing with what and the last state.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
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
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last state: %s", what, waitLimit, last)
}

func events(t *testing.T, ns, name string) string {
	t.Helper()
	r, _ := c.Kubectl(context.Background(), t.TempDir(), "", "get", "events", "-n", ns, "-o",
		`jsonpath={range .items[?(@.involvedObject.name=="`+name+`")]}{.type} {.reason}: {.message}{"\n"}{end}`)
	return r.Stdout
}

// TestBlockOnRealKubelet restores the lz4-chain fixture's newest backup into a
// Block PVC of the loop-device class: the populator pod runs under the real
// kubelet in containerd from the imported image and reads S3 across the pod
// network; the bound volume's device equals Longhorn's own restore (CASES).
func TestBlockOnRealKubelet(t *testing.T) {
	const backup, ns = "bak://vol-lz4/backup-a94d0f6e2b1c7358", "real-block"
	kubectl(t, "", "create", "namespace", ns)
	kubectl(t, fmt.Sprintf(`apiVersion: snaprestore.io/v1alpha1
kind: BackupSource
metadata: {name: restored, namespace: %[1]s}
spec: {backup: %[2]s}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: restored, namespace: %[1]s}
spec:
  storageClassName: %[3]s
  volumeMode: Block
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
  dataSourceRef: {apiGroup: snaprestore.io, kind: BackupSource, name: restored}
`, ns, backup, className), "apply", "-f", "-")
	uid := get(t, ns, "pvc", "restored", "{.metadata.uid}")
	// The pod is the controller's; see it run in containerd on the node.
	pod := "populate-" + uid
	waitUntil(t, "populator pod started by the kubelet", func() (bool, string) {
		id := get(t, controllerNS, "pod", pod, "{.status.containerStatuses[0].containerID}")
		return strings.HasPrefix(id, "containerd://") || get(t, ns, "pvc", "restored", "{.status.phase}") == "Bound",
			"pod " + get(t, controllerNS, "pod", pod, "{.status.phase} {.status.containerStatuses}") + "; " + events(t, ns, "restored")
	})
	waitUntil(t, "PVC Bound", func() (bool, string) {
		phase := get(t, ns, "pvc", "restored", "{.status.phase}")
		if ev := events(t, ns, "restored"); strings.Contains(ev, "PopulateFailed") {
			t.Fatalf("population failed:\n%s", ev)
		}
		return phase == "Bound", "phase " + phase + "; " + events(t, ns, "restored") +
			"; pod " + get(t, controllerNS, "pod", pod, "{.status.phase} {.status.containerStatuses[0].state}")
	})
	var pv corev1.PersistentVolume
	if err := c.Client.Get(context.Background(), client.ObjectKey{Name: get(t, ns, "pvc", "restored", "{.spec.volumeName}")}, &pv); err != nil {
		t.Fatal(err)
	}
	if pv.Spec.Local == nil {
		t.Fatalf("PV %s is not one of the loop-device local PVs: %+v", pv.Name, pv.Spec.PersistentVolumeSource)
	}
	if got, want := testenv.FileSHA256(t, pv.Spec.Local.Path), cases[backup]; got != want {
		t.Errorf("sha256 of the populated device %s (PV %s) = %s; want %s (CASES)", pv.Spec.Local.Path, pv.Name, got, want)
	}
	// What a workload sees: the claim mapped by the kubelet into a pod.
	if got, want := consumerSHA(t, ns, "restored"), cases[backup]; got != want {
		t.Errorf("sha256 of the volume as a consumer pod reads it = %q; want %s (CASES)", got, want)
	}
	waitUntil(t, "BackupSource Succeeded, populator pod and prime PVC gone", func() (bool, string) {
		out := kubectl(t, "", "get", "backupsources", "-n", ns)
		left := get(t, controllerNS, "pod", pod, "{.metadata.name}") + get(t, controllerNS, "pvc", "prime-"+uid, "{.metadata.name}")
		return strings.Contains(out, "Succeeded") && left == "", out + " left: " + left
	})
	ev := events(t, ns, "restored")
	for _, want := range []string{"Normal PopulateStarted", "Normal PopulateVerified", "Normal Bound"} {
		if !strings.Contains(ev, want) {
			t.Errorf("PVC events lack %q:\n%s", want, ev)
		}
	}
}

// consumerSHA runs a pod with claim as a raw block device and returns the
// sha256 it computed, passed back as its termination message.
func consumerSHA(t *testing.T, ns, claim string) string {
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
	waitUntil(t, "consumer pod Succeeded", func() (bool, string) {
		phase := get(t, ns, "pod", "reader", "{.status.phase}")
		if phase == "Failed" {
			t.Fatalf("consumer pod failed: %s", get(t, ns, "pod", "reader", "{.status.containerStatuses[0].state}"))
		}
		return phase == "Succeeded", phase + " " + get(t, ns, "pod", "reader", "{.status.containerStatuses[0].state}")
	})
	return strings.TrimSpace(get(t, ns, "pod", "reader", "{.status.containerStatuses[0].state.terminated.message}"))
}
