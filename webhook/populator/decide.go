package populator

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

// AnnFailed on the user's PVC records a population given up, so the
// controller does not start it again; recreate the PVC to retry.
const AnnFailed = "snaprestore.io/populate-failed"

// AnnLastFailure on the prime PVC is the RFC 3339 time of the last failed pod.
const AnnLastFailure = "snaprestore.io/populate-last-failure"

// AnnResumeRecord on the prime PVC is the resume record (restore.DecodeRecord)
// of the last failed populator pod of a Block population: the block objects
// it wrote and synced. The next pod gets it and skips them. It lives and dies
// with the prime PVC, so it never describes another volume.
const AnnResumeRecord = "snaprestore.io/resume-record"

// maxBackoff caps the doubling retry wait.
const maxBackoff = 5 * time.Minute

// action is what the controller does next for one PVC.
type action int

const (
	actNone        action = iota // nothing to do (not ours, done, given up)
	actWait                      // wait for something outside (event, maybe requeue)
	actFail                      // give up: clean up, mark the PVC, status Failed
	actCleanup                   // the PVC or the BackupSource is going: delete what we made
	actCreatePrime               // add finalizers, create the prime PVC
	actCreatePod                 // create the populator pod
	actProgress                  // the pod runs: report its progress
	actRetry                     // the pod failed transiently: delete it, count, back off
	actRebind                    // the pod succeeded: point the PV's claimRef at the PVC
	actFinish                    // the PVC is bound to the populated PV: delete what we made
)

// facts are what the controller read about one PVC; plain data, no verdicts.
type facts struct {
	PVC    *corev1.PersistentVolumeClaim
	Source *v1alpha1.BackupSource // nil: not found
	// WaitForConsumer: the PVC's StorageClass binds WaitForFirstConsumer.
	WaitForConsumer bool
	Prime           *corev1.PersistentVolumeClaim // nil: not created yet
	PV              *corev1.PersistentVolume      // the prime's volume; nil: none yet
	Pod             *corev1.Pod                   // nil: none
	Now             time.Time
	MaxAttempts     int
	Backoff         time.Duration
}

// decision is the verdict: the action, a stable reason (the event reason)
// and the message users read.
type decision struct {
	Action  action
	Reason  string
	Message string
	// RequeueAfter is set for waits that end by time (retry backoff).
	RequeueAfter time.Duration
	// Result is the populator pod's report, when it wrote one.
	Result Result
	// Record is the resume record the next pod starts from (actRetry keeps it
	// on the prime PVC, actCreatePod gives it to the pod); "" for none.
	Record string
}

// decide is the whole policy of a population, one case per state.
func decide(f facts) decision {
	pvc := f.PVC
	name := pvc.Namespace + "/" + pvc.Name
	switch {
	case pvc.DeletionTimestamp != nil:
		return decision{Action: actCleanup, Reason: "PVCDeleted", Message: fmt.Sprintf("PVC %s is being deleted", name)}
	case pvc.Spec.VolumeName != "":
		if f.Prime == nil && f.Pod == nil && !hasFinalizer(pvc.Finalizers) {
			return decision{Action: actNone}
		}
		return decision{Action: actFinish, Reason: "Bound", Message: fmt.Sprintf("PVC %s is bound to the populated volume %s", name, pvc.Spec.VolumeName)}
	case pvc.Annotations[AnnFailed] != "":
		return decision{Action: actNone}
	case f.Source == nil:
		return decision{Action: actWait, Reason: "BackupSourceMissing", Message: fmt.Sprintf(
			"spec.dataSourceRef.name: BackupSource %s/%s does not exist; expected a BackupSource in the PVC's namespace (kubectl get backupsources -n %s)",
			pvc.Namespace, pvc.Spec.DataSourceRef.Name, pvc.Namespace)}
	case f.Source.DeletionTimestamp != nil:
		return decision{Action: actCleanup, Reason: "BackupSourceDeleted", Message: fmt.Sprintf("BackupSource %s/%s is being deleted; population of PVC %s stopped", pvc.Namespace, f.Source.Name, name)}
	case f.WaitForConsumer && pvc.Annotations[AnnSelectedNode] == "":
		return decision{Action: actWait, Reason: "WaitForFirstConsumer", Message: fmt.Sprintf("PVC %s waits for a pod that uses it (WaitForFirstConsumer) before it is populated", name)}
	case f.Prime == nil:
		return decision{Action: actCreatePrime, Reason: "PopulateStarted", Message: fmt.Sprintf("populating PVC %s from backup %s", name, f.Source.Spec.Backup)}
	case f.Pod == nil:
		return decidePodless(f, name)
	}
	return decidePod(f, name)
}

// decidePodless: the prime PVC exists and no pod runs.
func decidePodless(f facts, name string) decision {
	if f.PV != nil && claimedBy(f.PV, f.PVC) {
		return decision{Action: actWait, Reason: "Rebinding", Message: fmt.Sprintf("volume %s is handed to PVC %s", f.PV.Name, name)}
	}
	attempts := attemptsOf(f.Prime)
	if attempts >= f.MaxAttempts {
		return decision{Action: actFail, Reason: "PopulateFailed", Message: fmt.Sprintf("population of PVC %s gave up after %d failed attempts", name, attempts)}
	}
	if attempts > 0 {
		last, err := time.Parse(time.RFC3339, f.Prime.Annotations[AnnLastFailure])
		if wait := last.Add(backoff(f.Backoff, attempts)).Sub(f.Now); err == nil && wait > 0 {
			return decision{Action: actWait, Reason: "PopulateBackoff", RequeueAfter: wait,
				Message: fmt.Sprintf("retrying population of PVC %s in %s (attempt %d of %d)", name, wait.Round(time.Second), attempts+1, f.MaxAttempts)}
		}
	}
	d := decision{Action: actCreatePod, Reason: "PopulatorPodCreated", Message: fmt.Sprintf("populator pod for PVC %s created (attempt %d of %d)", name, attempts+1, f.MaxAttempts)}
	if attempts > 0 {
		d.Record = nextRecord(f.PVC, f.Prime, "")
		d.Message += ", " + resumeNote(f.PVC, d.Record)
	}
	return d
}

// decidePod: a populator pod exists.
func decidePod(f facts, name string) decision {
	res, ok, published := podResult(f.Pod)
	switch phaseOf(f.Pod, res, ok, published) {
	case corev1.PodSucceeded:
		if !ok || !res.Succeeded {
			res = Result{Succeeded: true, Message: "the populator pod succeeded"}
		}
		if f.PV == nil {
			return decision{Action: actWait, Reason: "PrimeUnbound", Message: fmt.Sprintf("the populator pod of PVC %s succeeded but its prime PVC has no volume", name), Result: res}
		}
		if claimedBy(f.PV, f.PVC) {
			return decision{Action: actWait, Reason: "Rebinding", Message: fmt.Sprintf("volume %s is handed to PVC %s", f.PV.Name, name), Result: res}
		}
		return decision{Action: actRebind, Reason: "PopulateVerified", Message: fmt.Sprintf("PVC %s: %s", name, res.Message), Result: res}
	case corev1.PodFailed:
		switch {
		case !ok:
			res = Result{Message: fmt.Sprintf("the populator pod failed (%s) without a result", podFailure(f.Pod))}
		case res.InProgress: // killed while it ran: its last progress document
			res.Message = fmt.Sprintf("the populator pod failed (%s) while %s", podFailure(f.Pod), res.Message)
		}
		if res.Permanent || exitCode(f.Pod) == ExitPermanent {
			return decision{Action: actFail, Reason: "PopulateFailed", Message: fmt.Sprintf("population of PVC %s failed: %s", name, res.Message), Result: res}
		}
		attempts := attemptsOf(f.Prime) + 1
		if attempts >= f.MaxAttempts {
			return decision{Action: actFail, Reason: "PopulateFailed", Result: res,
				Message: fmt.Sprintf("population of PVC %s gave up after %d failed attempts; last: %s", name, attempts, res.Message)}
		}
		rec := nextRecord(f.PVC, f.Prime, res.ResumeRecord)
		return decision{Action: actRetry, Reason: "PopulateRetry", Result: res, RequeueAfter: backoff(f.Backoff, attempts), Record: rec,
			Message: fmt.Sprintf("populator pod of PVC %s failed (attempt %d of %d): %s; retrying in %s, %s",
				name, attempts, f.MaxAttempts, res.Message, backoff(f.Backoff, attempts), resumeNote(f.PVC, rec))}
	}
	return decision{Action: actProgress, Reason: "PopulateProgress", Message: fmt.Sprintf("populating PVC %s", name)}
}

// nextRecord is the resume record the next pod of a Block population gets:
// the failed pod's own (fresh) when it decodes, else the one kept on the
// prime PVC (a pod that died before its first flush did not invalidate it: a
// record may lag the data, never lead it), else none.
func nextRecord(pvc, prime *corev1.PersistentVolumeClaim, fromPod string) string {
	if !isBlock(pvc) {
		return ""
	}
	for _, r := range []string{fromPod, prime.Annotations[AnnResumeRecord]} {
		if _, err := restore.DecodeRecord(r); err == nil {
			return r
		}
	}
	return ""
}

// resumeNote says where the next pod starts.
func resumeNote(pvc *corev1.PersistentVolumeClaim, record string) string {
	if !isBlock(pvc) {
		return "the next pod keeps the files already copied"
	}
	c, err := restore.DecodeRecord(record)
	if err != nil {
		return "restarting from the beginning (no record)"
	}
	return fmt.Sprintf("resuming from %d of %d block objects", c.Finished(), c.Objects)
}

func isBlock(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock
}

// backoff is base doubled per failed attempt, at most maxBackoff.
func backoff(base time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func attemptsOf(prime *corev1.PersistentVolumeClaim) int {
	n, _ := strconv.Atoi(prime.Annotations[AnnAttempts])
	return n
}

func claimedBy(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) bool {
	r := pv.Spec.ClaimRef
	return r != nil && r.Namespace == pvc.Namespace && r.Name == pvc.Name && r.UID == pvc.UID
}

func hasFinalizer(fs []string) bool {
	for _, f := range fs {
		if f == Finalizer {
			return true
		}
	}
	return false
}

// podResult is the Result the pod wrote as its termination message or,
// while its container has not exited, the success it published on itself
// as AnnResult once its volume was written, verified and synced (published).
func podResult(p *corev1.Pod) (res Result, ok, published bool) {
	for _, s := range p.Status.ContainerStatuses {
		if t := s.State.Terminated; t != nil {
			res, ok = ParseResult(t.Message)
			return res, ok, false
		}
	}
	res, ok = ParseResult(p.Annotations[AnnResult])
	if !ok || !res.Succeeded || res.InProgress {
		return Result{}, false, false
	}
	return res, true, true
}

// phaseOf is the pod's phase, except that a pod that published its success,
// or whose containers have all exited 0 with a Result that says it
// succeeded, counts as Succeeded at once: the kubelet notices an exit at its
// next relist of containers (every second) and sets the phase only after
// tearing the sandbox down (another second on a real node), and the pod
// synced the volume before it wrote either, so the rebind need not wait.
func phaseOf(p *corev1.Pod, res Result, ok, published bool) corev1.PodPhase {
	if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending || !ok || !res.Succeeded {
		return p.Status.Phase
	}
	if published {
		return corev1.PodSucceeded
	}
	if len(p.Status.ContainerStatuses) == 0 {
		return p.Status.Phase
	}
	for _, s := range p.Status.ContainerStatuses {
		if t := s.State.Terminated; t == nil || t.ExitCode != 0 {
			return p.Status.Phase
		}
	}
	return corev1.PodSucceeded
}

func exitCode(p *corev1.Pod) int32 {
	for _, s := range p.Status.ContainerStatuses {
		if t := s.State.Terminated; t != nil {
			return t.ExitCode
		}
	}
	return -1
}

// podFailure names why a pod failed without a result: eviction, OOM, a signal.
func podFailure(p *corev1.Pod) string {
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	for _, s := range p.Status.ContainerStatuses {
		if t := s.State.Terminated; t != nil {
			return fmt.Sprintf("%s, exit code %d", t.Reason, t.ExitCode)
		}
	}
	return "no container status"
}
