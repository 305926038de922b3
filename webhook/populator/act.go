package populator

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

// act carries out a decision. Every step is idempotent: deterministic names,
// AlreadyExists and NotFound ignored, so a requeue after a partial step
// finishes it.
func (r *reconciler) act(ctx context.Context, f facts, d decision) (reconcile.Result, error) {
	pvc := f.PVC
	switch d.Action {
	case actNone:
		return reconcile.Result{}, nil
	case actWait:
		r.recorder.Event(pvc, corev1.EventTypeNormal, d.Reason, d.Message)
		if d.Reason != "Rebinding" && d.Reason != "PrimeUnbound" {
			return reconcile.Result{RequeueAfter: d.RequeueAfter}, r.status(ctx, f.Source, v1alpha1.PhasePending, d.Message, nil)
		}
		return reconcile.Result{RequeueAfter: d.RequeueAfter}, nil
	case actFail:
		r.recorder.Event(pvc, corev1.EventTypeWarning, d.Reason, d.Message)
		if err := r.cleanup(ctx, pvc); err != nil {
			return reconcile.Result{}, err
		}
		populationsTotal.WithLabelValues(resultFailed).Inc()
		if err := r.release(ctx, pvc, d.Message); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, r.status(ctx, f.Source, v1alpha1.PhaseFailed, d.Message, &metav1.Condition{
			Type: v1alpha1.ConditionPopulated, Status: metav1.ConditionFalse, Reason: d.Reason, Message: d.Message})
	case actCleanup:
		r.recorder.Event(pvc, corev1.EventTypeWarning, d.Reason, d.Message)
		if err := r.cleanup(ctx, pvc); err != nil {
			return reconcile.Result{}, err
		}
		populationsTotal.WithLabelValues(resultAborted).Inc()
		if err := r.release(ctx, pvc, ""); err != nil {
			return reconcile.Result{}, err
		}
		// A population stopped by the PVC's deletion leaves the source as it
		// found it, not "Populating" for ever (a source being deleted is skipped).
		return reconcile.Result{}, r.status(ctx, f.Source, v1alpha1.PhasePending, d.Message, &metav1.Condition{
			Type: v1alpha1.ConditionPopulated, Status: metav1.ConditionFalse, Reason: d.Reason, Message: d.Message})
	case actCreatePrime:
		prime, err := r.start(ctx, f, d)
		if err != nil {
			return reconcile.Result{}, err
		}
		// The pod follows in the same pass (the scheduler holds it until the
		// prime binds): waiting for the prime's watch event cost a round trip
		// per population. decide says whether and with which attempt.
		next := f
		next.Prime = prime
		if pd := decide(next); pd.Action == actCreatePod {
			if made, err := r.createPod(ctx, next, pd); err != nil || !made {
				return reconcile.Result{}, err
			}
		}
		return reconcile.Result{}, r.status(ctx, f.Source, v1alpha1.PhasePopulating, d.Message, nil)
	case actCreatePod:
		_, err := r.createPod(ctx, f, d)
		return reconcile.Result{}, err
	case actProgress:
		return reconcile.Result{}, r.progress(ctx, f)
	case actRetry:
		return r.retry(ctx, f, d)
	case actRebind:
		return reconcile.Result{}, r.rebind(ctx, f, d)
	case actFinish:
		if err := r.cleanup(ctx, pvc); err != nil {
			return reconcile.Result{}, err
		}
		if err := r.release(ctx, pvc, ""); err != nil {
			return reconcile.Result{}, err
		}
		r.recorder.Event(pvc, corev1.EventTypeNormal, d.Reason, d.Message)
		populationsTotal.WithLabelValues(resultSucceeded).Inc()
		return reconcile.Result{}, r.status(ctx, f.Source, v1alpha1.PhaseSucceeded, d.Message, &metav1.Condition{
			Type: v1alpha1.ConditionPopulated, Status: metav1.ConditionTrue, Reason: d.Reason, Message: d.Message})
	}
	return reconcile.Result{}, fmt.Errorf("populator: unknown action %d", d.Action)
}

// start puts the finalizers on the PVC and the BackupSource (both at once:
// they are independent writes), then creates the prime PVC (in that order:
// nothing exists that a deletion could leak) and returns it.
func (r *reconciler) start(ctx context.Context, f facts, d decision) (*corev1.PersistentVolumeClaim, error) {
	var g errgroup.Group
	g.Go(func() error {
		if err := addFinalizerMerged(ctx, r.client, f.PVC); err != nil {
			return fmt.Errorf("add finalizer to PVC %s/%s: %w", f.PVC.Namespace, f.PVC.Name, err)
		}
		return nil
	})
	g.Go(func() error {
		if err := r.patchLocked(ctx, f.Source, func() bool { return controllerutil.AddFinalizer(f.Source, Finalizer) }); err != nil {
			return fmt.Errorf("add finalizer to BackupSource %s/%s: %w", f.Source.Namespace, f.Source.Name, err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	prime := newPrime(f.PVC, r.o.Namespace)
	switch err := r.client.Create(ctx, prime); {
	case apierrors.IsAlreadyExists(err):
		// The cache lagged behind an earlier pass: read the one that exists
		// (its attempt count decides the pod), and the event was sent then.
		if err := r.live.Get(ctx, client.ObjectKeyFromObject(prime), prime); err != nil {
			return nil, fmt.Errorf("get prime PVC %s/%s: %w", prime.Namespace, prime.Name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("create prime PVC %s/%s: %w", prime.Namespace, prime.Name, err)
	default:
		r.recorder.Event(f.PVC, corev1.EventTypeNormal, d.Reason, d.Message)
	}
	return prime, nil
}

// createPod copies the BackupSource's backupstore Secret next to the pod when
// it names one, then creates the pod. made is false when the Secret is
// missing: the status says so, and the Secret's creation is waited for.
func (r *reconciler) createPod(ctx context.Context, f facts, d decision) (made bool, err error) {
	secret := ""
	if ref := f.Source.Spec.BackupstoreSecretRef; ref != nil {
		var src corev1.Secret
		if err := r.live.Get(ctx, client.ObjectKey{Namespace: f.PVC.Namespace, Name: ref.Name}, &src); err != nil {
			msg := fmt.Sprintf("spec.backupstoreSecretRef.name: Secret %s/%s: %v; expected a Secret with the BACKUPSTORE and AWS_* keys", f.PVC.Namespace, ref.Name, err)
			r.recorder.Event(f.PVC, corev1.EventTypeWarning, "BackupstoreSecretMissing", msg)
			return false, r.status(ctx, f.Source, v1alpha1.PhasePending, msg, nil)
		}
		cp := &corev1.Secret{ObjectMeta: ownedMeta(secretName(f.PVC), r.o.Namespace, f.PVC), Data: src.Data}
		if err := r.client.Create(ctx, cp); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("copy backupstore Secret to %s/%s: %w", r.o.Namespace, cp.Name, err)
		}
		secret = cp.Name
	}
	switch err := r.client.Create(ctx, newPod(f.PVC, f.Source, &r.o, secret, d.Record)); {
	case apierrors.IsAlreadyExists(err): // created by a pass the pod cache had not caught up with
	case err != nil:
		return false, fmt.Errorf("create populator pod %s/%s: %w", r.o.Namespace, podName(f.PVC), err)
	default:
		r.recorder.Event(f.PVC, corev1.EventTypeNormal, d.Reason, d.Message)
	}
	return true, nil
}

// progress copies the pod's progress annotation to the BackupSource status,
// with a PVC event at every 10%.
func (r *reconciler) progress(ctx context.Context, f facts) error {
	done, total, ok := parseProgress(f.Pod.Annotations[AnnProgress])
	if !ok || f.Source == nil {
		return nil
	}
	pct := percent(done, total)
	old := f.Source.Status
	if old.Phase == v1alpha1.PhasePopulating && old.RestoredBytes == done && old.TotalBytes == total {
		return nil
	}
	if oldPct := percent(old.RestoredBytes, old.TotalBytes); old.TotalBytes == 0 || pct/10 > oldPct/10 {
		r.recorder.Eventf(f.PVC, corev1.EventTypeNormal, "PopulateProgress", "backup %s: %d%% restored (%d of %d bytes)", f.Source.Spec.Backup, pct, done, total)
	}
	return r.patchStatus(ctx, f.Source, func(s *v1alpha1.BackupSourceStatus) {
		s.Phase, s.RestoredBytes, s.TotalBytes, s.Progress = v1alpha1.PhasePopulating, done, total, fmt.Sprintf("%d%%", pct)
		s.Message = fmt.Sprintf("populating PVC %s/%s: %d%%", f.PVC.Namespace, f.PVC.Name, pct)
	})
}

// retry deletes the failed pod and counts the attempt on the prime PVC, where
// it also keeps the resume record the next pod starts from.
func (r *reconciler) retry(ctx context.Context, f facts, d decision) (reconcile.Result, error) {
	r.recorder.Event(f.PVC, corev1.EventTypeWarning, d.Reason, d.Message)
	prime := f.Prime.DeepCopy()
	prime.Annotations[AnnAttempts] = strconv.Itoa(attemptsOf(f.Prime) + 1)
	prime.Annotations[AnnLastFailure] = r.now().UTC().Format(time.RFC3339)
	if d.Record != "" {
		prime.Annotations[AnnResumeRecord] = d.Record
	}
	if err := r.client.Patch(ctx, prime, client.MergeFrom(f.Prime)); err != nil {
		return reconcile.Result{}, fmt.Errorf("count failed attempt on prime PVC %s: %w", prime.Name, err)
	}
	if err := r.deleteObj(ctx, f.Pod); err != nil {
		return reconcile.Result{}, err
	}
	populationsTotal.WithLabelValues(resultRetried).Inc()
	return reconcile.Result{RequeueAfter: d.RequeueAfter}, r.status(ctx, f.Source, v1alpha1.PhasePending, d.Message, nil)
}

// rebind hands the populated PV to the user's PVC: the claimRef patch
// lib-volume-populator makes; the PV controller then binds the PVC.
func (r *reconciler) rebind(ctx context.Context, f facts, d decision) error {
	pv := f.PV.DeepCopy()
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
		Namespace: f.PVC.Namespace, Name: f.PVC.Name, UID: f.PVC.UID, ResourceVersion: f.PVC.ResourceVersion}
	if err := r.client.Patch(ctx, pv, client.MergeFrom(f.PV)); err != nil {
		return fmt.Errorf("rebind PV %s to PVC %s/%s: %w", pv.Name, f.PVC.Namespace, f.PVC.Name, err)
	}
	r.recorder.Event(f.PVC, corev1.EventTypeNormal, d.Reason, d.Message)
	restoredBytes.Add(float64(d.Result.Bytes))
	populationSeconds.Observe(r.now().Sub(f.Prime.CreationTimestamp.Time).Seconds())
	return r.patchStatus(ctx, f.Source, func(s *v1alpha1.BackupSourceStatus) {
		s.Phase, s.Message, s.Progress = v1alpha1.PhasePopulating, d.Message, "100%"
		if d.Result.Bytes > 0 {
			s.RestoredBytes, s.TotalBytes = d.Result.Bytes, d.Result.Bytes
		}
	})
}

// cleanup deletes the pod, the copied Secret and the prime PVC of pvc.
func (r *reconciler) cleanup(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: r.o.Namespace, Name: name} }
	for _, obj := range []client.Object{
		&corev1.Pod{ObjectMeta: meta(podName(pvc))},
		&corev1.Secret{ObjectMeta: meta(secretName(pvc))},
		&corev1.PersistentVolumeClaim{ObjectMeta: meta(primeName(pvc))},
	} {
		if err := r.deleteObj(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

func (r *reconciler) deleteObj(ctx context.Context, obj client.Object) error {
	err := r.client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// release removes the finalizer from the PVC (marking it failed when failure
// is set) and from the BackupSource when no other PVC still holds it.
func (r *reconciler) release(ctx context.Context, pvc *corev1.PersistentVolumeClaim, failure string) error {
	err := r.patchLocked(ctx, pvc, func() bool {
		changed := controllerutil.RemoveFinalizer(pvc, Finalizer)
		if failure != "" && pvc.Annotations[AnnFailed] != failure {
			if pvc.Annotations == nil {
				pvc.Annotations = map[string]string{}
			}
			pvc.Annotations[AnnFailed], changed = failure, true
		}
		return changed
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release PVC %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	var src v1alpha1.BackupSource
	if found, err := r.get(ctx, pvc.Namespace, pvc.Spec.DataSourceRef.Name, &src); err != nil || !found {
		return err
	}
	var list corev1.PersistentVolumeClaimList
	if err := r.client.List(ctx, &list, client.InNamespace(pvc.Namespace)); err != nil {
		return fmt.Errorf("list PVCs of %s: %w", pvc.Namespace, err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		if p.UID != pvc.UID && wantsPopulation(p) && p.Spec.DataSourceRef.Name == src.Name && hasFinalizer(p.Finalizers) {
			return nil // still populating another PVC
		}
	}
	err = r.patchLocked(ctx, &src, func() bool { return controllerutil.RemoveFinalizer(&src, Finalizer) })
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release BackupSource %s/%s: %w", src.Namespace, src.Name, err)
	}
	return nil
}

// finalizerPatch adds Finalizer to a built-in object's finalizers by a
// strategic merge patch: metadata.finalizers merges as a set there, so the
// patch keeps every other finalizer and needs no lock, and another writer's
// change to the object meanwhile (the PV controller annotating a new PVC at
// the moment the population starts) is no conflict to reread and retry.
var finalizerPatch = client.RawPatch(types.StrategicMergePatchType, []byte(`{"metadata":{"finalizers":["`+Finalizer+`"]}}`))

// addFinalizerMerged puts Finalizer on a built-in object with finalizerPatch
// unless it carries it; obj becomes the object as stored.
func addFinalizerMerged(ctx context.Context, c client.Client, obj client.Object) error {
	if controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	return c.Patch(ctx, obj, finalizerPatch)
}

// patchLocked applies edit to obj (it reports whether it changed anything)
// and merge-patches the change under an optimistic lock: a plain merge patch
// of a list such as the finalizers would drop what another writer added
// meanwhile. A conflict rereads obj from the API server and edits again, in
// the same pass: the PV controller writes a new PVC at the very moment the
// population starts and ends, and a requeue would cost a round trip.
func (r *reconciler) patchLocked(ctx context.Context, obj client.Object, edit func() bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		orig := obj.DeepCopyObject().(client.Object)
		if !edit() {
			return nil
		}
		err := r.client.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			if gerr := r.live.Get(ctx, client.ObjectKeyFromObject(obj), obj); gerr != nil {
				return gerr
			}
		}
		return err
	})
}

// status sets the BackupSource's phase and message (and a condition).
func (r *reconciler) status(ctx context.Context, src *v1alpha1.BackupSource, phase v1alpha1.Phase, msg string, cond *metav1.Condition) error {
	if src == nil || src.DeletionTimestamp != nil {
		return nil
	}
	return r.patchStatus(ctx, src, func(s *v1alpha1.BackupSourceStatus) {
		s.Phase, s.Message = phase, msg
		if phase == v1alpha1.PhaseSucceeded {
			s.Progress = "100%"
			if s.TotalBytes > 0 {
				s.RestoredBytes = s.TotalBytes
			}
		}
		if cond != nil {
			meta.SetStatusCondition(&s.Conditions, *cond)
		}
	})
}

func (r *reconciler) patchStatus(ctx context.Context, src *v1alpha1.BackupSource, edit func(*v1alpha1.BackupSourceStatus)) error {
	orig := src.DeepCopy()
	edit(&src.Status)
	if err := r.client.Status().Patch(ctx, src, client.MergeFrom(orig)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of BackupSource %s/%s: %w", src.Namespace, src.Name, err)
	}
	return nil
}

// parseProgress reads AnnProgress, "<bytes>/<total>".
func parseProgress(v string) (done, total int64, ok bool) {
	a, b, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, false
	}
	done, err1 := strconv.ParseInt(a, 10, 64)
	total, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || done < 0 || total <= 0 || done > total {
		return 0, 0, false
	}
	return done, total, true
}

func percent(done, total int64) int {
	if total <= 0 {
		return 0
	}
	return int(done * 100 / total)
}
