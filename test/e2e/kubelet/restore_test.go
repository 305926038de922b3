package kubelet

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
)

// TestBlock restores the lz4-chain fixture's newest backup and the
// gzip-single one into Block PVCs of the loop-device class: each populator
// pod runs under the real kubelet in containerd from the imported image and
// reads S3 across the pod network; the bound volume's device equals
// Longhorn's own restore (CASES), and for lz4-chain so does what a consumer
// pod reads from the mapped claim.
func TestBlock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, backup, handle, size string
		consumer                   bool
	}{
		{"lz4-chain", "bak://vol-lz4/backup-a94d0f6e2b1c7358", "bak://vol-lz4/backup-a94d0f6e2b1c7358", "64Mi", true},
		{"gzip-single", "vol-gzip/backup-5b2e8d1f0c4a9367", "bak://vol-gzip/backup-5b2e8d1f0c4a9367", "32Mi", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, "block-"+tc.name)
			uid := apply(t, ns, "restored", tc.backup, className, "Block", tc.size, "")
			// The pod is the controller's; see it run in containerd on the node.
			pod := "populate-" + uid
			waitUntil(t, "populator pod started by the kubelet", func() (bool, string) {
				p := podOf(t, controllerNS, pod)
				if p != nil && len(p.Status.ContainerStatuses) > 0 && strings.HasPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://") {
					return true, ""
				}
				return phase(t, ns, "restored") == corev1.ClaimBound, fmt.Sprintf("pod %+v; events:\n%s", p, events(t, ns, "restored"))
			})
			pv := waitBound(t, ns, "restored")
			checkDevice(t, pv, cases[tc.handle])
			if tc.consumer {
				if got, want := consumerSHA(t, ns, "restored"), cases[tc.handle]; got != want {
					t.Errorf("sha256 of the volume as a consumer pod reads it = %q; want %s (CASES)", got, want)
				}
			}
			waitSucceeded(t, ns, "restored", uid)
		})
	}
}

// TestWaitForFirstConsumer: in a WaitForFirstConsumer class nothing is made
// until a pod uses the claim; then the prime PVC carries the node the
// scheduler selected, the populator pod runs there, and the consumer reads
// the restored image.
func TestWaitForFirstConsumer(t *testing.T) {
	t.Parallel()
	const backup = "bak://vol-gzip/backup-5b2e8d1f0c4a9367"
	ns := namespace(t, "wfc")
	uid := apply(t, ns, "restored", backup, wfcClassName, "Block", "32Mi", "")
	waitUntil(t, "WaitForFirstConsumer event", func() (bool, string) {
		ev := events(t, ns, "restored")
		return strings.Contains(ev, "WaitForFirstConsumer"), ev
	})
	if left := leftovers(t, uid); left != "" {
		t.Fatalf("populated before a consumer was scheduled: %s", left)
	}
	startConsumer(t, ns, "restored")
	var primeNode, podNode string
	waitUntil(t, "prime PVC and populator pod on the selected node", func() (bool, string) {
		if prime := pvcOf(t, controllerNS, "prime-"+uid); prime != nil && primeNode == "" {
			primeNode = prime.Annotations[annSelectedNode]
		}
		if pod := podOf(t, controllerNS, "populate-"+uid); pod != nil && podNode == "" {
			podNode = pod.Spec.NodeName
		}
		if primeNode != "" && podNode != "" {
			return true, ""
		}
		if phase(t, ns, "restored") == corev1.ClaimBound {
			t.Fatalf("the claim was bound before the test saw the prime PVC (node %q) and the pod (node %q)", primeNode, podNode)
		}
		return false, fmt.Sprintf("prime node %q, pod node %q", primeNode, podNode)
	})
	user := pvcOf(t, ns, "restored").Annotations[annSelectedNode]
	if user != nodeName || primeNode != nodeName || podNode != nodeName {
		t.Errorf("selected node: user PVC %q, prime PVC %q, populator pod %q; want %q for all", user, primeNode, podNode, nodeName)
	}
	if got := consumerResult(t, ns); got != cases[backup] {
		t.Errorf("consumer pod's sha256 of the claim = %q; want %s (CASES)", got, cases[backup])
	}
	checkDevice(t, waitBound(t, ns, "restored"), cases[backup])
	waitSucceeded(t, ns, "restored", uid)
}

// TestFilesystem restores the files of an ext4 image made here with mkfs.ext4
// -d (fsreadtest's golden tree: modes, owners, mtimes, symlinks, hard links,
// a sparse file, a fifo, xattrs) and backed up with snaprestore backup into a
// Filesystem PVC: a loop device the provisioner formatted ext4 and mounted
// (the PV's local path), as a local-static-provisioner disk. Every path of
// the volume equals the tree's.
func TestFilesystem(t *testing.T) {
	t.Parallel()
	tree := filepath.Join(t.TempDir(), "tree")
	fsreadtest.BuildTree(t, tree)
	img := fsreadtest.MakeExt4(t, tree, "256M")
	if out, err := exec.Command(binary, "backup", "--backupstore", hostStore, "--volume", "vol-ext4", "--from", img, "--backup", "backup-files").CombinedOutput(); err != nil {
		t.Fatalf("snaprestore backup: %v\n%s", err, out)
	}
	ns := namespace(t, "filesystem")
	// The files use far less than the 256 MiB volume: Filesystem mode needs room for them only.
	uid := apply(t, ns, "restored", "bak://vol-ext4/backup-files", className, "Filesystem", "128Mi", "")
	checkFiles(t, tree, waitBound(t, ns, "restored"))
	waitSucceeded(t, ns, "restored", uid)
}

// checkFiles compares every path of the Filesystem PV with tree's
// (fsreadtest.Snapshot: content, mode, owner, mtime, link target, hard
// links, user xattrs).
func checkFiles(t *testing.T, tree string, pv *corev1.PersistentVolume) {
	t.Helper()
	want, got := fsreadtest.Snapshot(t, tree), fsreadtest.Snapshot(t, pv.Spec.Local.Path)
	// The volume's root directory is the PV's own (made by mkfs).
	delete(want, ".")
	delete(got, ".")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files in the populated volume %s (-tree +volume):\n%s", pv.Spec.Local.Path, diff)
	}
}

// TestAnnotatedPVC: a PVC that only names the backup, in a class that is not
// Longhorn's, gets a BackupSource named after it (owned by it) instead of a
// VolumeSnapshot, and is populated; deleting the PVC deletes the BackupSource.
func TestAnnotatedPVC(t *testing.T) {
	t.Parallel()
	const backup = "bak://vol-lz4/backup-a94d0f6e2b1c7358"
	ns := namespace(t, "annotated")
	r, err := c.Kubectl(context.Background(), t.TempDir(), fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: restored
  namespace: %s
  annotations: {snaprestore.io/backup: vol-lz4/backup-a94d0f6e2b1c7358}
spec:
  storageClassName: %s
  volumeMode: Block
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
`, ns, className), "apply", "-f", "-")
	if err != nil || r.Exit != 0 {
		t.Fatalf("kubectl apply: exit %d, %v\n%s", r.Exit, err, r.Stderr)
	}
	if want := "spec.resources.requests[storage]: raised from 16Mi to 64Mi, the size of backup " + backup; !strings.Contains(r.Stderr, want) {
		t.Errorf("kubectl apply warnings %q lack %q", r.Stderr, want)
	}
	pvc := pvcOf(t, ns, "restored")
	if ref := pvc.Spec.DataSourceRef; ref == nil || ref.Kind != "BackupSource" || ref.Name != "restored" {
		t.Errorf("dataSourceRef %+v; want BackupSource/restored", ref)
	}
	if snaps := kubectl(t, "", "get", "volumesnapshots", "-n", ns, "-o", "name"); snaps != "" {
		t.Errorf("VolumeSnapshots %q created for a non-Longhorn class", snaps)
	}
	checkDevice(t, waitBound(t, ns, "restored"), cases[backup])
	waitUntil(t, "BackupSource owned by the PVC", func() (bool, string) {
		src := backupSource(t, ns, "restored")
		if src == nil {
			return false, "no BackupSource"
		}
		refs := src.GetOwnerReferences()
		return len(refs) == 1 && refs[0].Kind == "PersistentVolumeClaim" && refs[0].Name == "restored", fmt.Sprintf("owners %+v", refs)
	})
	waitSucceeded(t, ns, "restored", string(pvc.UID))
	kubectl(t, "", "delete", "pvc", "-n", ns, "restored", "--wait=false")
	waitUntil(t, "BackupSource deleted with its PVC", func() (bool, string) {
		return backupSource(t, ns, "restored") == nil, "BackupSource still there"
	})
}

// TestMissingBackup: a BackupSource naming a backup the store lacks fails at
// once with the available backups listed, a warning on the PVC, and the PVC
// stays Pending.
func TestMissingBackup(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "missing")
	uid := apply(t, ns, "restored", "bak://vol-lz4/backup-0000000000000000", className, "Block", "64Mi", "")
	waitUntil(t, "BackupSource Failed", func() (bool, string) {
		p, msg := sourceStatus(t, ns, "restored")
		return p == "Failed", p + " " + msg
	})
	_, msg := sourceStatus(t, ns, "restored")
	for _, want := range []string{"backup not found", "available backups (newest first): bak://vol-lz4/backup-a94d0f6e2b1c7358"} {
		if !strings.Contains(msg, want) {
			t.Errorf("status.message %q lacks %q", msg, want)
		}
	}
	if ev := events(t, ns, "restored"); !strings.Contains(ev, "Warning PopulateFailed") {
		t.Errorf("no PopulateFailed warning on the PVC:\n%s", ev)
	}
	waitUntil(t, "clean-up", func() (bool, string) { left := leftovers(t, uid); return left == "", left })
	if p := phase(t, ns, "restored"); p != corev1.ClaimPending {
		t.Errorf("PVC phase %q; want Pending (nothing bound)", p)
	}
}

// TestDamagedBlock: a backupstore whose block objects are garbled (the
// BackupSource's backupstoreSecretRef names it) fails with the block offset
// named, is not retried, leaves nothing behind and binds no PVC.
func TestDamagedBlock(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "damaged")
	kubectl(t, "", "create", "secret", "generic", "-n", ns, "damaged-store", "--from-literal=BACKUPSTORE=s3://"+damagedBucket+"@us-east-1/")
	uid := apply(t, ns, "restored", "bak://vol-lz4/backup-a94d0f6e2b1c7358", className, "Block", "64Mi", "damaged-store")
	waitUntil(t, "BackupSource Failed", func() (bool, string) {
		p, msg := sourceStatus(t, ns, "restored")
		return p == "Failed", p + " " + msg + "; events:\n" + events(t, ns, "restored")
	})
	if _, msg := sourceStatus(t, ns, "restored"); !strings.Contains(msg, "block at offset ") {
		t.Errorf("status.message %q does not name the block offset", msg)
	}
	if ev := events(t, ns, "restored"); strings.Contains(ev, "PopulateRetry") {
		t.Errorf("a damaged backup was retried:\n%s", ev)
	}
	waitUntil(t, "clean-up", func() (bool, string) { left := leftovers(t, uid); return left == "", left })
	if p := phase(t, ns, "restored"); p != corev1.ClaimPending {
		t.Errorf("PVC phase %q; want Pending (nothing bound)", p)
	}
}
