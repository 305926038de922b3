package populator

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

var now = time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)

func userClaim(edit ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	p := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "data", UID: "u1", Annotations: map[string]string{}},
		Spec: corev1.PersistentVolumeClaimSpec{
			VolumeMode:    ptr.To(corev1.PersistentVolumeBlock),
			DataSourceRef: &corev1.TypedObjectReference{APIGroup: ptr.To(v1alpha1.Group), Kind: v1alpha1.Kind, Name: "src"},
		},
	}
	for _, e := range edit {
		e(p)
	}
	return p
}

func testSource() *v1alpha1.BackupSource {
	return &v1alpha1.BackupSource{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "src"},
		Spec: v1alpha1.BackupSourceSpec{Backup: "bak://vol/backup-1"}}
}

func prime(ann map[string]string, volume string) *corev1.PersistentVolumeClaim {
	p := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "prime-u1", Annotations: map[string]string{}}}
	for k, v := range ann {
		p.Annotations[k] = v
	}
	p.Spec.VolumeName = volume
	return p
}

func pod(phase corev1.PodPhase, msg string, code int32) *corev1.Pod {
	p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		reason := "Completed" // as the kubelet says
		if code != 0 {
			reason = "Error"
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg}}}}
	}
	return p
}

// exited is a pod in phase whose container has already terminated with code
// and msg, as the kubelet reports it before it sets the terminal phase.
func exited(phase corev1.PodPhase, msg string, code int32) *corev1.Pod {
	p := pod(corev1.PodSucceeded, msg, code)
	p.Status.Phase = phase
	return p
}

// running is a pod whose container the kubelet reports running.
func running() *corev1.Pod {
	p := pod(corev1.PodRunning, "", 0)
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	return p
}

// published is p with doc as the Result it published on itself (AnnResult).
func published(p *corev1.Pod, doc string) *corev1.Pod {
	p.Annotations = map[string]string{AnnResult: doc}
	return p
}

func pv(claim *corev1.ObjectReference) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1"}, Spec: corev1.PersistentVolumeSpec{ClaimRef: claim}}
}

// testRecord is a resume record of n finished of 40 block objects.
func testRecord(n int) string {
	done := make([]bool, 40)
	for i := range n {
		done[i] = true
	}
	rec, _ := restore.EncodeRecord(restore.RecordHeader{Version: 1, Backup: "bak://vol/backup-1", VolumeSize: 80 << 20, BlockSize: 2 << 20}, done, RecordBudget)
	return rec
}

// progress is the progress document of a pod killed with record rec.
func progress(rec string) string {
	n := 0
	if c, err := restore.DecodeRecord(rec); err == nil {
		n = c.Finished()
	} else {
		n = 30
	}
	return fmt.Sprintf(`{"succeeded":false,"inProgress":true,"message":"restoring bak://vol/backup-1: %d of 40 block objects written and synced","resumeRecord":%q}`, n, rec) + `ed":false}` // a longer old document's tail
}

func fsClaim() *corev1.PersistentVolumeClaim {
	return userClaim(func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem) })
}

func TestDecide(t *testing.T) {
	t.Parallel()
	rec12, rec30 := testRecord(12), testRecord(30)
	deleted := metav1.NewTime(now)
	damaged := `{"succeeded":false,"permanent":true,"message":"bak://vol/backup-1: block at offset 2097152 (blocks/x.blk): block checksum mismatch"}`
	ok := `{"succeeded":true,"message":"restored and verified bak://vol/backup-1","bytes":4096}`
	tests := []struct {
		name    string
		f       facts
		want    action
		reason  string
		message string
		requeue time.Duration
		record  string
	}{
		{name: "PVC deleted mid-population", f: facts{PVC: userClaim(func(p *corev1.PersistentVolumeClaim) { p.DeletionTimestamp = &deleted }), Source: testSource(), Prime: prime(nil, "")},
			want: actCleanup, reason: "PVCDeleted", message: "PVC team-a/data is being deleted"},
		{name: "bound, ours to clean", f: facts{PVC: userClaim(func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeName = "pv-1"; p.Finalizers = []string{Finalizer} }), Source: testSource()},
			want: actFinish, reason: "Bound", message: "PVC team-a/data is bound to the populated volume pv-1"},
		{name: "bound, nothing of ours", f: facts{PVC: userClaim(func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeName = "pv-1" }), Source: testSource()},
			want: actNone},
		{name: "given up before", f: facts{PVC: userClaim(func(p *corev1.PersistentVolumeClaim) { p.Annotations[AnnFailed] = "x" }), Source: testSource()},
			want: actNone},
		{name: "BackupSource missing", f: facts{PVC: userClaim()}, want: actWait, reason: "BackupSourceMissing",
			message: "spec.dataSourceRef.name: BackupSource team-a/src does not exist; expected a BackupSource in the PVC's namespace (kubectl get backupsources -n team-a)"},
		{name: "BackupSource deleted mid-population", f: facts{PVC: userClaim(), Source: func() *v1alpha1.BackupSource { s := testSource(); s.DeletionTimestamp = &deleted; return s }()},
			want: actCleanup, reason: "BackupSourceDeleted", message: "BackupSource team-a/src is being deleted; population of PVC team-a/data stopped"},
		{name: "Filesystem mode", f: facts{PVC: userClaim(func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem) }), Source: testSource()},
			want: actCreatePrime, reason: "PopulateStarted", message: "populating PVC team-a/data from backup bak://vol/backup-1"},
		{name: "WaitForFirstConsumer, no node yet", f: facts{PVC: userClaim(), Source: testSource(), WaitForConsumer: true},
			want: actWait, reason: "WaitForFirstConsumer", message: "PVC team-a/data waits for a pod that uses it (WaitForFirstConsumer) before it is populated"},
		{name: "WaitForFirstConsumer, node selected", f: facts{PVC: userClaim(func(p *corev1.PersistentVolumeClaim) { p.Annotations[AnnSelectedNode] = "n1" }), Source: testSource(), WaitForConsumer: true},
			want: actCreatePrime, reason: "PopulateStarted", message: "populating PVC team-a/data from backup bak://vol/backup-1"},
		{name: "prime, no pod", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "")},
			want: actCreatePod, reason: "PopulatorPodCreated", message: "populator pod for PVC team-a/data created (attempt 1 of 6)"},
		{name: "backoff after a failure", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "2", AnnLastFailure: now.Add(-5 * time.Second).Format(time.RFC3339)}, "")},
			want: actWait, reason: "PopulateBackoff", message: "retrying population of PVC team-a/data in 15s (attempt 3 of 6)", requeue: 15 * time.Second},
		{name: "backoff over", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "1", AnnLastFailure: now.Add(-time.Minute).Format(time.RFC3339)}, "")},
			want: actCreatePod, reason: "PopulatorPodCreated", message: "populator pod for PVC team-a/data created (attempt 2 of 6), restarting from the beginning (no record)"},
		{name: "backoff over, record kept", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "1", AnnResumeRecord: rec12, AnnLastFailure: now.Add(-time.Minute).Format(time.RFC3339)}, "")},
			want: actCreatePod, reason: "PopulatorPodCreated", record: rec12, message: "populator pod for PVC team-a/data created (attempt 2 of 6), resuming from 12 of 40 block objects"},
		{name: "backoff over, Filesystem", f: facts{PVC: fsClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "1", AnnResumeRecord: rec12, AnnLastFailure: now.Add(-time.Minute).Format(time.RFC3339)}, "")},
			want: actCreatePod, reason: "PopulatorPodCreated", message: "populator pod for PVC team-a/data created (attempt 2 of 6), the next pod keeps the files already copied"},
		{name: "attempts used up", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "6"}, "")},
			want: actFail, reason: "PopulateFailed", message: "population of PVC team-a/data gave up after 6 failed attempts"},
		{name: "pod running", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, ""), Pod: pod(corev1.PodRunning, "", 0)},
			want: actProgress, reason: "PopulateProgress", message: "populating PVC team-a/data"},
		{name: "pod succeeded: rebind", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), PV: pv(&corev1.ObjectReference{Namespace: "snaprestore", Name: "prime-u1"}), Pod: pod(corev1.PodSucceeded, ok, 0)},
			want: actRebind, reason: "PopulateVerified", message: "PVC team-a/data: restored and verified bak://vol/backup-1"},
		{name: "container exited 0 with its result, phase not yet set: rebind", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), PV: pv(&corev1.ObjectReference{Namespace: "snaprestore", Name: "prime-u1"}), Pod: exited(corev1.PodRunning, ok, 0)},
			want: actRebind, reason: "PopulateVerified", message: "PVC team-a/data: restored and verified bak://vol/backup-1"},
		{name: "container exited 0 without a succeeded result: wait for the phase", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: exited(corev1.PodRunning, progress(rec12), 0)},
			want: actProgress, reason: "PopulateProgress", message: "populating PVC team-a/data"},
		{name: "container exited 1 with a succeeded result: wait for the phase", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: exited(corev1.PodRunning, ok, 1)},
			want: actProgress, reason: "PopulateProgress", message: "populating PVC team-a/data"},
		{name: "container running, success published: rebind", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), PV: pv(&corev1.ObjectReference{Namespace: "snaprestore", Name: "prime-u1"}), Pod: published(running(), ok)},
			want: actRebind, reason: "PopulateVerified", message: "PVC team-a/data: restored and verified bak://vol/backup-1"},
		{name: "success published before the kubelet reported the container: rebind", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), PV: pv(&corev1.ObjectReference{Namespace: "snaprestore", Name: "prime-u1"}), Pod: published(pod(corev1.PodPending, "", 0), ok)},
			want: actRebind, reason: "PopulateVerified", message: "PVC team-a/data: restored and verified bak://vol/backup-1"},
		{name: "published result not a success: ignored", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: published(running(), damaged)},
			want: actProgress, reason: "PopulateProgress", message: "populating PVC team-a/data"},
		{name: "published progress document: ignored", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: published(running(), `{"succeeded":true,"inProgress":true,"message":"restoring"}`)},
			want: actProgress, reason: "PopulateProgress", message: "populating PVC team-a/data"},
		{name: "published result unreadable: ignored", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: published(running(), "yes")},
			want: actProgress, reason: "PopulateProgress", message: "populating PVC team-a/data"},
		{name: "success published, container exited 1 without a result: the exit decides", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: published(exited(corev1.PodRunning, "", 1), ok)},
			want: actProgress, reason: "PopulateProgress", message: "populating PVC team-a/data"},
		{name: "pod succeeded, PV handed over", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), PV: pv(&corev1.ObjectReference{Namespace: "team-a", Name: "data", UID: "u1"}), Pod: pod(corev1.PodSucceeded, ok, 0)},
			want: actWait, reason: "Rebinding", message: "volume pv-1 is handed to PVC team-a/data"},
		{name: "damaged block: no retry", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: pod(corev1.PodFailed, damaged, 2)},
			want: actFail, reason: "PopulateFailed", message: "population of PVC team-a/data failed: bak://vol/backup-1: block at offset 2097152 (blocks/x.blk): block checksum mismatch"},
		{name: "killed pod: retry", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: pod(corev1.PodFailed, "", 137)},
			want: actRetry, reason: "PopulateRetry", requeue: 10 * time.Second,
			message: "populator pod of PVC team-a/data failed (attempt 1 of 6): the populator pod failed (Error, exit code 137) without a result; retrying in 10s, restarting from the beginning (no record)"},
		{name: "killed pod with a record: retry from it", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: pod(corev1.PodFailed, progress(rec12), 137)},
			want: actRetry, reason: "PopulateRetry", requeue: 10 * time.Second, record: rec12,
			message: "populator pod of PVC team-a/data failed (attempt 1 of 6): the populator pod failed (Error, exit code 137) while restoring bak://vol/backup-1: 12 of 40 block objects written and synced; retrying in 10s, resuming from 12 of 40 block objects"},
		{name: "killed again: the newer record wins", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "1", AnnResumeRecord: rec12}, "pv-1"), Pod: pod(corev1.PodFailed, progress(rec30), 137)},
			want: actRetry, reason: "PopulateRetry", requeue: 20 * time.Second, record: rec30,
			message: "populator pod of PVC team-a/data failed (attempt 2 of 6): the populator pod failed (Error, exit code 137) while restoring bak://vol/backup-1: 30 of 40 block objects written and synced; retrying in 20s, resuming from 30 of 40 block objects"},
		{name: "killed before its first flush: the kept record stands", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "1", AnnResumeRecord: rec12}, "pv-1"), Pod: pod(corev1.PodFailed, "", 137)},
			want: actRetry, reason: "PopulateRetry", requeue: 20 * time.Second, record: rec12,
			message: "populator pod of PVC team-a/data failed (attempt 2 of 6): the populator pod failed (Error, exit code 137) without a result; retrying in 20s, resuming from 12 of 40 block objects"},
		{name: "torn record in the message: the kept one stands", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "1", AnnResumeRecord: rec12}, "pv-1"), Pod: pod(corev1.PodFailed, progress(rec30[:len(rec30)-9]), 1)},
			want: actRetry, reason: "PopulateRetry", requeue: 20 * time.Second, record: rec12,
			message: "populator pod of PVC team-a/data failed (attempt 2 of 6): the populator pod failed (Error, exit code 1) while restoring bak://vol/backup-1: 30 of 40 block objects written and synced; retrying in 20s, resuming from 12 of 40 block objects"},
		{name: "transient failure keeps its record", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: pod(corev1.PodFailed, `{"message":"dial tcp: connection refused","resumeRecord":"`+rec30+`"}`, 1)},
			want: actRetry, reason: "PopulateRetry", requeue: 10 * time.Second, record: rec30,
			message: "populator pod of PVC team-a/data failed (attempt 1 of 6): dial tcp: connection refused; retrying in 10s, resuming from 30 of 40 block objects"},
		{name: "Filesystem pod killed: resumes the copy", f: facts{PVC: fsClaim(), Source: testSource(), Prime: prime(nil, "pv-1"), Pod: pod(corev1.PodFailed, "", 137)},
			want: actRetry, reason: "PopulateRetry", requeue: 10 * time.Second,
			message: "populator pod of PVC team-a/data failed (attempt 1 of 6): the populator pod failed (Error, exit code 137) without a result; retrying in 10s, the next pod keeps the files already copied"},
		{name: "evicted pod: retry", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "1"}, "pv-1"), Pod: func() *corev1.Pod {
			p := pod(corev1.PodFailed, "", 0)
			p.Status.Reason, p.Status.ContainerStatuses = "Evicted", nil
			return p
		}()}, want: actRetry, reason: "PopulateRetry", requeue: 20 * time.Second,
			message: "populator pod of PVC team-a/data failed (attempt 2 of 6): the populator pod failed (Evicted) without a result; retrying in 20s, restarting from the beginning (no record)"},
		{name: "last attempt fails", f: facts{PVC: userClaim(), Source: testSource(), Prime: prime(map[string]string{AnnAttempts: "5"}, "pv-1"), Pod: pod(corev1.PodFailed, `{"message":"dial tcp: connection refused"}`, 1)},
			want: actFail, reason: "PopulateFailed", message: "population of PVC team-a/data gave up after 6 failed attempts; last: dial tcp: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f.Now, tc.f.MaxAttempts, tc.f.Backoff = now, DefaultMaxAttempts, DefaultBackoff
			d := decide(tc.f)
			got := []any{d.Action, d.Reason, d.Message, d.RequeueAfter, d.Record}
			want := []any{tc.want, tc.reason, tc.message, tc.requeue, tc.record}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoffCaps(t *testing.T) {
	t.Parallel()
	for attempts, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 10: maxBackoff} {
		if got := backoff(10*time.Second, attempts); got != want {
			t.Errorf("backoff(10s, %d) = %s; want %s", attempts, got, want)
		}
	}
}

func TestParseProgress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][3]int64{"5/10": {5, 10, 1}, "10/10": {10, 10, 1}, "11/10": {}, "x/10": {}, "5": {}, "0/0": {}, "-1/4": {}} {
		d, tot, ok := parseProgress(in)
		got := [3]int64{d, tot, 0}
		if ok {
			got[2] = 1
		}
		if got != want {
			t.Errorf("parseProgress(%q) = %v; want %v", in, got, want)
		}
	}
}
