package populator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/test/nodeagent"
	"github.com/snaprestore/snaprestore/webhook/populator"
)

// waitLimit bounds every wait: generous, for two cores shared by many.
const waitLimit = 5 * time.Minute

// kubectl runs kubectl and fails t on a non-zero exit.
func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	return c.MustKubectl(t, stdin, args...)
}

// get is one jsonpath field of an object ("" when it does not exist), or of
// the list of kind when name is "".
func get(t *testing.T, ns, kind, name, path string) string {
	t.Helper()
	args := []string{"get", kind}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	if name != "" {
		args = append(args, name, "--ignore-not-found")
	}
	r, err := c.Kubectl(context.Background(), t.TempDir(), "", append(args, "-o", "jsonpath="+path)...)
	if err != nil || r.Exit != 0 {
		t.Fatalf("kubectl %v: exit %d, %v: %s", args, r.Exit, err, r.Stderr)
	}
	return r.Stdout
}

// waitUntil polls cond every 250ms up to waitLimit, failing with what and the last state.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last state: %s", what, waitLimit, last)
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	kubectl(t, "", "create", "namespace", name)
	return name
}

// apply creates a BackupSource and a Block PVC populated from it.
func apply(t *testing.T, ns, name, backup, class, size, secret string) {
	t.Helper()
	applyMode(t, ns, name, backup, class, size, secret, "Block")
}

func applyMode(t *testing.T, ns, name, backup, class, size, secret, mode string) {
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
}

func waitBound(t *testing.T, ns, name string) string {
	t.Helper()
	waitUntil(t, "PVC "+ns+"/"+name+" Bound", func() (bool, string) {
		phase := get(t, ns, "pvc", name, "{.status.phase}")
		return phase == "Bound", "phase " + phase + "; " + events(t, ns, name)
	})
	return get(t, ns, "pvc", name, "{.spec.volumeName}")
}

func events(t *testing.T, ns, name string) string {
	t.Helper()
	return get(t, ns, "events", "", `{range .items[?(@.involvedObject.name=="`+name+`")]}{.type} {.reason}: {.message}{"\n"}{end}`)
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func checkImage(t *testing.T, volume, want string) {
	t.Helper()
	path, err := agent.PVPath(context.Background(), volume)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileSHA(t, path); got != want {
		t.Errorf("sha256 of the populated volume %s = %s; want %s", volume, got, want)
	}
}

// leftovers lists what the populator made for the PVC of uid that still exists.
func leftovers(t *testing.T, uid string) string {
	t.Helper()
	var out []string
	for _, kind := range []string{"pod", "pvc", "secret"} {
		for _, n := range strings.Fields(get(t, controllerNS, kind, "", "{.items[*].metadata.name}")) {
			if strings.HasSuffix(n, uid) {
				out = append(out, kind+"/"+n)
			}
		}
	}
	var pvs corev1.PersistentVolumeList
	if err := c.Client.List(context.Background(), &pvs); err != nil {
		t.Fatal(err)
	}
	for _, pv := range pvs.Items {
		if r := pv.Spec.ClaimRef; r != nil && r.Namespace == controllerNS && strings.HasSuffix(r.Name, uid) {
			out = append(out, "pv/"+pv.Name)
		}
	}
	return strings.Join(out, " ")
}

func TestBlockFromFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, backup, size string }{
		{"lz4-chain", "bak://vol-lz4/backup-a94d0f6e2b1c7358", "64Mi"},
		{"gzip-single", "vol-gzip/backup-5b2e8d1f0c4a9367", "32Mi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, "block-"+tc.name)
			apply(t, ns, "restored", tc.backup, nodeagent.ImmediateClass, tc.size, "")
			uid := get(t, ns, "pvc", "restored", "{.metadata.uid}")
			volume := waitBound(t, ns, "restored")
			handle := tc.backup
			if !strings.HasPrefix(handle, "bak://") {
				handle = "bak://" + handle
			}
			checkImage(t, volume, cases[handle])
			waitUntil(t, "BackupSource Succeeded and clean-up", func() (bool, string) {
				out := kubectl(t, "", "get", "backupsources", "-n", ns)
				left := leftovers(t, uid)
				return strings.Contains(out, "Succeeded") && strings.Contains(out, "100%") && left == "", out + " leftovers: " + left
			})
			ev := events(t, ns, "restored")
			for _, want := range []string{"Normal PopulateStarted", "Normal PopulateVerified", "Normal Bound"} {
				if !strings.Contains(ev, want) {
					t.Errorf("PVC events lack %q:\n%s", want, ev)
				}
			}
		})
	}
}

func TestWaitForFirstConsumer(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "wfc")
	apply(t, ns, "restored", "bak://vol-gzip/backup-5b2e8d1f0c4a9367", nodeagent.WFCClass, "32Mi", "")
	uid := get(t, ns, "pvc", "restored", "{.metadata.uid}")
	waitUntil(t, "WaitForFirstConsumer event", func() (bool, string) {
		ev := events(t, ns, "restored")
		return strings.Contains(ev, "WaitForFirstConsumer"), ev
	})
	if left := leftovers(t, uid); left != "" {
		t.Fatalf("populated before a consumer was scheduled: %s", left)
	}
	kubectl(t, `apiVersion: v1
kind: Pod
metadata: {name: consumer, namespace: wfc}
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "test -e /dev/data && sleep 600"]
    volumeDevices: [{name: data, devicePath: /dev/data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: restored}}]
`, "apply", "-f", "-")
	volume := waitBound(t, ns, "restored")
	checkImage(t, volume, cases["bak://vol-gzip/backup-5b2e8d1f0c4a9367"])
	waitUntil(t, "consumer Running", func() (bool, string) {
		p := get(t, ns, "pod", "consumer", "{.status.phase}")
		return p == "Running", p
	})
}

func TestMissingBackup(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "missing")
	apply(t, ns, "restored", "bak://vol-lz4/backup-0000000000000000", nodeagent.ImmediateClass, "64Mi", "")
	waitUntil(t, "BackupSource Failed", func() (bool, string) {
		p := get(t, ns, "backupsource", "restored", "{.status.phase}")
		return p == "Failed", p
	})
	msg := get(t, ns, "backupsource", "restored", "{.status.message}")
	for _, want := range []string{"backup not found", "available backups (newest first): bak://vol-lz4/backup-a94d0f6e2b1c7358"} {
		if !strings.Contains(msg, want) {
			t.Errorf("status.message %q lacks %q", msg, want)
		}
	}
	if ev := events(t, ns, "restored"); !strings.Contains(ev, "Warning PopulateFailed") {
		t.Errorf("no PopulateFailed warning on the PVC:\n%s", ev)
	}
	if p := get(t, ns, "pvc", "restored", "{.status.phase}"); p != "Pending" {
		t.Errorf("PVC phase %q; want Pending (nothing bound)", p)
	}
}

func TestDamagedBlock(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "damaged")
	kubectl(t, "", "create", "secret", "generic", "-n", ns, "damaged-store", "--from-literal=BACKUPSTORE="+damagedStore)
	apply(t, ns, "restored", "bak://vol-lz4/backup-a94d0f6e2b1c7358", nodeagent.ImmediateClass, "64Mi", "damaged-store")
	uid := get(t, ns, "pvc", "restored", "{.metadata.uid}")
	waitUntil(t, "BackupSource Failed", func() (bool, string) {
		p := get(t, ns, "backupsource", "restored", "{.status.phase}")
		return p == "Failed", p + " " + events(t, ns, "restored")
	})
	msg := get(t, ns, "backupsource", "restored", "{.status.message}")
	if !strings.Contains(msg, "block at offset ") {
		t.Errorf("status.message %q does not name the block offset", msg)
	}
	if ev := events(t, ns, "restored"); strings.Contains(ev, "PopulateRetry") {
		t.Errorf("a damaged backup was retried:\n%s", ev)
	}
	waitUntil(t, "clean-up", func() (bool, string) { left := leftovers(t, uid); return left == "", left })
	if p := get(t, ns, "pvc", "restored", "{.status.phase}"); p != "Pending" {
		t.Errorf("PVC phase %q; want Pending (nothing bound)", p)
	}
}

// waitMidRestore waits for the populator pod of uid to report a restore
// under way (its first report comes after the first block) and returns the
// pod's name.
func waitMidRestore(t *testing.T, uid string) string {
	t.Helper()
	pod := "populate-" + uid
	waitUntil(t, "populator pod mid-restore", func() (bool, string) {
		p := get(t, controllerNS, "pod", pod, `{.metadata.annotations.snaprestore\.io/progress}`)
		var done, total int64
		if _, err := fmt.Sscanf(p, "%d/%d", &done, &total); err != nil || total == 0 {
			return false, p
		}
		if done == total {
			t.Fatalf("the restore finished (%s) before the test could act mid-restore; make vol-big larger", p)
		}
		return true, p
	})
	return pod
}

func TestDeleteMidPopulation(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "delete-mid")
	apply(t, ns, "restored", "bak://vol-big/backup-big", nodeagent.ImmediateClass, "512Mi", "")
	uid := get(t, ns, "pvc", "restored", "{.metadata.uid}")
	waitMidRestore(t, uid)
	kubectl(t, "", "delete", "pvc", "-n", ns, "restored", "--wait=false")
	waitUntil(t, "PVC, prime PVC, pod and PV gone", func() (bool, string) {
		left := leftovers(t, uid)
		pvc := get(t, ns, "pvc", "restored", "{.metadata.name}")
		pvs := get(t, "", "pv", "", "{.items[*].spec.claimRef.uid}")
		if strings.Contains(pvs, uid) {
			left += " a PV bound to the deleted PVC"
		}
		return left == "" && pvc == "", "leftovers: " + left + " pvc: " + pvc
	})
	waitUntil(t, "BackupSource released", func() (bool, string) {
		f := get(t, ns, "backupsource", "restored", "{.metadata.finalizers}")
		return f == "", f
	})
}

// waitRecord waits until the populator pod of the PVC of uid has published a
// resume record listing at least one block object written and synced (a
// progress document in its termination message file, which the kubelet, here
// the node agent, reads after the process exits), so a kill leaves something
// to resume; it returns the pod's name.
func waitRecord(t *testing.T, uid string) string {
	t.Helper()
	pod := "populate-" + uid
	var podUID string
	waitUntil(t, "populator pod created", func() (bool, string) {
		podUID = get(t, controllerNS, "pod", pod, "{.metadata.uid}")
		return podUID != "", "no pod yet"
	})
	term := agent.TerminationMessagePath(podUID, "populate")
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(term); err == nil {
			if res, ok := populator.ParseResult(string(b)); ok && res.InProgress {
				if c, err := restore.DecodeRecord(res.ResumeRecord); err == nil && c.Finished() > 0 {
					t.Logf("killing %s: its record lists %d of %d block objects", pod, c.Finished(), c.Objects)
					return pod
				}
			}
		}
		if get(t, controllerNS, "pod", pod, "{.status.phase}") == "Succeeded" {
			t.Fatalf("the populator pod finished before its resume record %s listed a block; make vol-big larger", term)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("termination message %s: no resume record listing a block within %s", term, waitLimit)
	return ""
}

func TestKilledPodResumes(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "resume")
	apply(t, ns, "restored", "bak://vol-big/backup-big", nodeagent.ImmediateClass, "512Mi", "")
	uid := get(t, ns, "pvc", "restored", "{.metadata.uid}")
	pod := waitRecord(t, uid)
	if err := agent.Kill(controllerNS, pod); err != nil {
		t.Fatalf("kill %s: %v", pod, err)
	}
	volume := waitBound(t, ns, "restored")
	checkImage(t, volume, bigSHA)
	ev := events(t, ns, "restored")
	t.Logf("PVC events:\n%s", ev)
	for _, want := range []string{"Warning PopulateRetry", "resuming from ", "block objects were restored before the interruption"} {
		if !strings.Contains(ev, want) {
			t.Errorf("PVC events lack %q:\n%s", want, ev)
		}
	}
	waitUntil(t, "clean-up", func() (bool, string) { left := leftovers(t, uid); return left == "", left })
}

// TestAnnotatedPVC: a PVC that only names the backup, in a class that is not
// Longhorn's, gets a BackupSource named after it (owned by it) instead of a
// VolumeSnapshot, and is populated; deleting the PVC deletes the BackupSource.
func TestAnnotatedPVC(t *testing.T) {
	t.Parallel()
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
`, ns, nodeagent.ImmediateClass), "apply", "-f", "-")
	if err != nil || r.Exit != 0 {
		t.Fatalf("kubectl apply: exit %d, %v\n%s", r.Exit, err, r.Stderr)
	}
	if want := "spec.resources.requests[storage]: raised from 16Mi to 64Mi, the size of backup bak://vol-lz4/backup-a94d0f6e2b1c7358"; !strings.Contains(r.Stderr, want) {
		t.Errorf("kubectl apply warnings %q lack %q", r.Stderr, want)
	}
	if got := get(t, ns, "pvc", "restored", "{.spec.dataSourceRef.kind}/{.spec.dataSourceRef.name}"); got != "BackupSource/restored" {
		t.Errorf("dataSourceRef %q; want BackupSource/restored", got)
	}
	if snaps := get(t, ns, "volumesnapshots", "", "{.items[*].metadata.name}"); snaps != "" {
		t.Errorf("VolumeSnapshots %q created for a non-Longhorn class", snaps)
	}
	volume := waitBound(t, ns, "restored")
	checkImage(t, volume, cases["bak://vol-lz4/backup-a94d0f6e2b1c7358"])
	waitUntil(t, "BackupSource owned by the PVC", func() (bool, string) {
		owner := get(t, ns, "backupsource", "restored", "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}")
		return owner == "PersistentVolumeClaim/restored", owner
	})
	kubectl(t, "", "delete", "pvc", "-n", ns, "restored", "--wait=false")
	waitUntil(t, "BackupSource deleted with its PVC", func() (bool, string) {
		name := get(t, ns, "backupsource", "restored", "{.metadata.name}")
		return name == "", name
	})
}
