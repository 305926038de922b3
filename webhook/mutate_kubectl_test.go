package webhook

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
)

// kubectlRunner runs the real kubectl (bin/kubectl, next to the control plane) against the test
// API server and returns stdout and stderr.
type kubectlRunner struct {
	t          *testing.T
	kubeconfig string
}

func newKubectl(t *testing.T, e *mutateEnv) kubectlRunner {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, e.kubeconfig, 0o600); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return kubectlRunner{t: t, kubeconfig: path}
}

func (k kubectlRunner) run(stdin string, args ...string) (stdout, stderr string, err error) {
	k.t.Helper()
	bin := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	cmd := exec.Command(bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// expect runs kubectl and checks its exact output and whether it failed.
func (k kubectlRunner) expect(stdin string, wantOut, wantErr string, wantFail bool, args ...string) {
	k.t.Helper()
	out, errOut, err := k.run(stdin, args...)
	if (err != nil) != wantFail || out != wantOut || errOut != wantErr {
		k.t.Errorf("kubectl %s:\nerr %v (want failure: %v)\nstdout %q\nwant   %q\nstderr %q\nwant   %q",
			strings.Join(args, " "), err, wantFail, out, wantOut, errOut, wantErr)
	}
}

const kubectlSnapshot = `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: NAME
  namespace: kubectl
  annotations:
    snaprestore.io/backup: bak://vol-a/backup-1
spec: {}
`

const kubectlPVC = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: NAME
  namespace: kubectl
  annotations:
    snaprestore.io/backup: vol-a/backup-big
spec:
  storageClassName: longhorn-test
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
`

func withName(manifest, name string) string { return strings.Replace(manifest, "NAME", name, 1) }

func testKubectl(t *testing.T, e *mutateEnv) {
	t.Parallel()
	ns := createNamespace(t, e, "kubectl")
	k := newKubectl(t, e)

	t.Run("apply twice", func(t *testing.T) {
		t.Parallel()
		m := withName(kubectlSnapshot, "applied")
		k.expect(m, "volumesnapshot.snapshot.storage.k8s.io/applied created\n", "", false, "apply", "-f", "-")
		snap := getOrFail(t, e.client, ns, "applied", &snapv1.VolumeSnapshot{})
		name := contentName(ns, "applied", "bak://vol-a/backup-1")
		if got := deref(snap.Spec.Source.VolumeSnapshotContentName); got != name {
			t.Errorf("spec.source.volumeSnapshotContentName = %q, want %q", got, name)
		}
		getOrFail(t, e.client, "", name, &snapv1.VolumeSnapshotContent{})
		k.expect(m, "volumesnapshot.snapshot.storage.k8s.io/applied unchanged\n", "", false, "apply", "-f", "-")
		if again := getOrFail(t, e.client, ns, "applied", &snapv1.VolumeSnapshot{}); again.ResourceVersion != snap.ResourceVersion {
			t.Errorf("second apply changed the snapshot: resourceVersion %s, was %s", again.ResourceVersion, snap.ResourceVersion)
		}
	})

	t.Run("server-side apply twice", func(t *testing.T) {
		t.Parallel()
		m := strings.TrimSuffix(withName(kubectlSnapshot, "ssa"), "spec: {}\n") // no spec at all: the webhook adds it
		k.expect(m, "volumesnapshot.snapshot.storage.k8s.io/ssa serverside-applied\n", "", false, "apply", "--server-side", "-f", "-")
		snap := getOrFail(t, e.client, ns, "ssa", &snapv1.VolumeSnapshot{})
		k.expect(m, "volumesnapshot.snapshot.storage.k8s.io/ssa serverside-applied\n", "", false, "apply", "--server-side", "-f", "-")
		again := getOrFail(t, e.client, ns, "ssa", &snapv1.VolumeSnapshot{})
		if deref(again.Spec.Source.VolumeSnapshotContentName) != contentName(ns, "ssa", "bak://vol-a/backup-1") || again.ResourceVersion != snap.ResourceVersion {
			t.Errorf("second server-side apply: source %q, resourceVersion %s (was %s); want unchanged",
				deref(again.Spec.Source.VolumeSnapshotContentName), again.ResourceVersion, snap.ResourceVersion)
		}
	})

	t.Run("server dry run creates nothing", func(t *testing.T) {
		t.Parallel()
		k.expect(withName(kubectlSnapshot, "dry"), "volumesnapshot.snapshot.storage.k8s.io/dry created (server dry run)\n", "", false,
			"apply", "--dry-run=server", "-f", "-")
		expectNotFound(t, e.client, ns, "dry", &snapv1.VolumeSnapshot{})
		expectNotFound(t, e.client, "", contentName(ns, "dry", "bak://vol-a/backup-1"), &snapv1.VolumeSnapshotContent{})
	})

	t.Run("denial", func(t *testing.T) {
		t.Parallel()
		// kubectl prints a structured Invalid status as "The <Kind> <name> is invalid: <causes>".
		m := strings.Replace(withName(kubectlSnapshot, "denied"), "  annotations:\n", "  annotations:\n    snaprestore.io/deletion-policy: Forever\n", 1)
		k.expect(m, "", `The VolumeSnapshot "denied" is invalid: metadata.annotations[snaprestore.io/deletion-policy]: Unsupported value: "Forever": supported values: "Retain", "Delete"`+"\n",
			true, "apply", "-f", "-")
	})

	t.Run("PVC apply twice", func(t *testing.T) {
		t.Parallel()
		m := withName(kubectlPVC, "restored")
		warning := "Warning: spec.resources.requests[storage]: raised from 1Gi to 3Gi, the size of backup bak://vol-a/backup-big\n"
		k.expect(m, "persistentvolumeclaim/restored created\n", warning, false, "apply", "-f", "-")
		pvc := getOrFail(t, e.client, ns, "restored", &corev1.PersistentVolumeClaim{})
		if pvc.Spec.DataSource == nil || pvc.Spec.DataSource.Name != "restored" {
			t.Errorf("spec.dataSource = %v, want the snapshot restored", pvc.Spec.DataSource)
		}
		getOrFail(t, e.client, ns, "restored", &snapv1.VolumeSnapshot{})
		// kubectl sends the manifest's 1Gi again (the live object has 3Gi); the webhook
		// raises it again, so the stored spec does not change.
		k.expect(m, "persistentvolumeclaim/restored configured\n", warning, false, "apply", "-f", "-")
		again := getOrFail(t, e.client, ns, "restored", &corev1.PersistentVolumeClaim{})
		if got := again.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "3Gi" {
			t.Errorf("storage request after second apply = %s, want 3Gi", got.String())
		}
	})
}
