package kubelet

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/fsread/fsreadtest"
	"github.com/snaprestore/snaprestore/webhook/populator"
)

// populateProcess finds, on the host, the pid of the `snaprestore populate`
// process of the running container id (containerd's ID, without the
// scheme): the process whose cgroup path ends in the container's own cgroup
// under the suite's pod cgroup root, and whose command line is the
// populator's. 0 when there is none.
func populateProcess(id string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil || !bytes.Contains(cg, []byte(cgroupRoot+"/")) || !bytes.Contains(cg, []byte("/"+id+"\n")) {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if args := strings.Split(string(cmd), "\x00"); len(args) > 1 && filepath.Base(args[0]) == "snaprestore" && args[1] == "populate" {
			return pid
		}
	}
	return 0
}

// procValue is the rest of the line of /proc/pid/<file> that starts with
// key, trimmed; false when the file cannot be read or has no such line.
func procValue(pid int, file, key string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// processUser is the real and effective user of pid (/proc/pid/status).
func processUser(t *testing.T, pid int) (real, effective int) {
	t.Helper()
	v, ok := procValue(pid, "status", "Uid:")
	if !ok {
		t.Fatalf("/proc/%d/status: no Uid line", pid)
	}
	if _, err := fmt.Sscan(v, &real, &effective); err != nil {
		t.Fatalf("/proc/%d/status Uid %q: %v", pid, v, err)
	}
	return real, effective
}

// written is the wchar count of /proc/pid/io: what the process has written.
func written(pid int) (int64, bool) {
	v, ok := procValue(pid, "io", "wchar:")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// waitMidRestore waits until the populator of the PVC of uid runs in its
// container and has written at least min bytes, and returns its host pid.
// It fails when the pod finishes first (bigSize is then too small to
// interrupt). The process is read every 10 ms: an API read every 250 ms
// would let a fast restore slip past.
func waitMidRestore(t *testing.T, uid string, min int64) int {
	t.Helper()
	var id string
	waitUntil(t, "populator container running", func() (bool, string) {
		pod := podOf(t, controllerNS, "populate-"+uid)
		if pod == nil || len(pod.Status.ContainerStatuses) == 0 {
			return false, "no pod status yet"
		}
		st := pod.Status.ContainerStatuses[0]
		if st.State.Terminated != nil {
			t.Fatalf("the populator finished (%+v) before the test could act mid-restore; make bigSize larger", st.State.Terminated)
		}
		id, _ = strings.CutPrefix(st.ContainerID, "containerd://")
		return st.State.Running != nil && id != "", fmt.Sprintf("%+v", st.State)
	})
	for start := time.Now(); time.Since(start) < waitLimit; time.Sleep(10 * time.Millisecond) {
		pid := populateProcess(id)
		if pid == 0 {
			continue
		}
		if n, ok := written(pid); ok && n >= min {
			return pid
		}
		if pod := podOf(t, controllerNS, "populate-"+uid); pod == nil || pod.Status.Phase != corev1.PodRunning && pod.Status.Phase != corev1.PodPending {
			t.Fatalf("the populator pod ended before writing %d bytes; make bigSize larger", min)
		}
	}
	t.Fatalf("the populate process of container %s did not write %d bytes within %s", id, min, waitLimit)
	return 0
}

// primeVolume returns the PV bound to the prime PVC of uid.
func primeVolume(t *testing.T, uid string) *corev1.PersistentVolume {
	t.Helper()
	var pv *corev1.PersistentVolume
	waitUntil(t, "prime PVC bound", func() (bool, string) {
		if prime := pvcOf(t, controllerNS, "prime-"+uid); prime != nil && prime.Spec.VolumeName != "" {
			pv = pvOf(t, prime.Spec.VolumeName)
		}
		return pv != nil, "no volume yet"
	})
	return pv
}

// TestDeleteMidPopulation deletes the PVC once its populator has written an
// eighth of the image: the PVC, the prime PVC, the pod, the PV and, on the
// node, the loop devices, mounts and file of the volume are all gone, and the
// BackupSource is released.
func TestDeleteMidPopulation(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "delete-mid")
	uid := apply(t, ns, "restored", "bak://vol-big/backup-big", className, "Block", "256Mi", "")
	pv := primeVolume(t, uid)
	waitMidRestore(t, uid, bigSize/8)
	kubectl(t, "", "delete", "pvc", "-n", ns, "restored", "--wait=false")
	waitUntil(t, "PVC, prime PVC, pod and PV gone", func() (bool, string) {
		left := leftovers(t, uid)
		if pvcOf(t, ns, "restored") != nil {
			left += " the PVC"
		}
		if pvOf(t, pv.Name) != nil {
			left += " PV " + pv.Name
		}
		return left == "", "left: " + left
	})
	waitUntil(t, "no loop device or mount of "+pv.Name+" on the node", func() (bool, string) {
		tr := prov.traces(pv.Name, pv.Annotations[annDevice])
		return len(tr) == 0, strings.Join(tr, ", ")
	})
	waitUntil(t, "BackupSource released", func() (bool, string) {
		src := backupSource(t, ns, "restored")
		return src != nil && len(src.GetFinalizers()) == 0, fmt.Sprintf("%v", src)
	})
}

// waitRecord waits until the populator pod of the PVC of uid has published,
// in its termination message file (the kubelet mounts it into the container
// from <root-dir>/pods/<pod UID>/containers/populate/), a resume record that
// lists at least one block object written and synced, so a kill leaves
// something to resume. The file is read every 10 ms, the pod every 50 reads.
func waitRecord(t *testing.T, uid string) {
	t.Helper()
	pod := podOf(t, controllerNS, "populate-"+uid)
	if pod == nil {
		t.Fatalf("no populator pod for the PVC of UID %s", uid)
	}
	dir := filepath.Join(kubeletRoot, "pods", string(pod.UID), "containers", "populate")
	start := time.Now()
	for i := 1; time.Since(start) < waitLimit; i++ {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if res, ok := populator.ParseResult(string(b)); ok && res.InProgress {
				if rec, err := restore.DecodeRecord(res.ResumeRecord); err == nil && rec.Finished() > 0 {
					t.Logf("killing the populator: its record lists %d of %d block objects", rec.Finished(), rec.Objects)
					return
				}
			}
		}
		if i%50 == 0 {
			if p := podOf(t, controllerNS, pod.Name); p == nil || p.UID != pod.UID || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				t.Fatalf("the populator pod ended before its termination message (under %s) carried a resume record listing a block; make bigSize larger", dir)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("termination message under %s: no resume record listing a block within %s", dir, waitLimit)
}

// TestKilledPodResumes kills the populate process of the pod (SIGKILL on the
// host, as the OOM killer or a node problem would) a quarter into the
// restore, once its termination message carries a resume record: the
// controller retries with a new pod, which resumes from the record (the
// kubelet delivered the killed container's message), and the device ends
// byte-identical to the backed-up image.
func TestKilledPodResumes(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "resume")
	uid := apply(t, ns, "restored", "bak://vol-big/backup-big", className, "Block", "256Mi", "")
	pid := waitMidRestore(t, uid, bigSize/4)
	// The Block pod writes the device as blockUser, which the runtime made
	// the device's owner (device_ownership_from_security_context).
	if r, e := processUser(t, pid); r != blockUser || e != blockUser {
		t.Errorf("the populate process runs as user %d (effective %d); want %d (--populator-block-run-as-user)", r, e, blockUser)
	}
	waitRecord(t, uid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d (the populate process): %v", pid, err)
	}
	pv := waitBound(t, ns, "restored")
	checkDevice(t, pv, bigSHA)
	ev := eventsContain(t, ns, "restored", "Warning PopulateRetry", "resuming from ", "block objects were restored before the interruption")
	t.Logf("PVC events:\n%s", ev)
	waitSucceeded(t, ns, "restored", uid)
}

// filesTree writes size bytes of random data (seeded: the same tree every
// run) into files of 128 KiB under 16 directories of dir.
func filesTree(t *testing.T, dir string, size int64) {
	t.Helper()
	const fileSize = 128 << 10
	rng := rand.NewChaCha8([32]byte{'f', 's', 'r', 'e', 's', 'u', 'm', 'e'})
	buf := make([]byte, fileSize)
	for i := range size / fileSize {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%04d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		_, _ = rng.Read(buf)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKilledFilesystemPodResumes kills the populate process of a Filesystem
// population (SIGKILL on the host) a quarter into the copy: the retried pod
// finds its marked partial copy, keeps the files already complete and
// copies the rest, and every path of the volume equals the tree's.
func TestKilledFilesystemPodResumes(t *testing.T) {
	t.Parallel()
	const dataSize = 128 << 20
	tree := filepath.Join(t.TempDir(), "tree")
	filesTree(t, tree, dataSize)
	img := fsreadtest.MakeExt4(t, tree, "256M")
	if out, err := exec.Command(binary, "backup", "--backupstore", hostStore, "--volume", "vol-ext4-big", "--from", img, "--backup", "backup-files").CombinedOutput(); err != nil {
		t.Fatalf("snaprestore backup: %v\n%s", err, out)
	}
	ns := namespace(t, "fsresume")
	uid := apply(t, ns, "restored", "bak://vol-ext4-big/backup-files", className, "Filesystem", "256Mi", "")
	pid := waitMidRestore(t, uid, dataSize/4)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d (the populate process): %v", pid, err)
	}
	checkFiles(t, tree, waitBound(t, ns, "restored"))
	ev := eventsContain(t, ns, "restored", "Warning PopulateRetry", "the next pod keeps the files already copied", "files were already copied")
	t.Logf("PVC events:\n%s", ev)
	waitSucceeded(t, ns, "restored", uid)
}
