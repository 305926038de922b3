package webhook

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/snaprestore/snaprestore/restore"
)

// Annotations the verifier writes on restore PVCs (#5).
const (
	// AnnotationVerification: "intact", "damaged: <n> of <m> block objects" or
	// "error: <reason>"; present once the backup was verified.
	AnnotationVerification = "snaprestore.io/backup-verification"
	// AnnotationRestoreStatus (--restore-dir): "restoring <n>%", "completed" or
	// "failed: <reason>".
	AnnotationRestoreStatus = "snaprestore.io/restore-status"
	// AnnotationRestoredImage (--restore-dir): path of the restored image.
	AnnotationRestoredImage = "snaprestore.io/restored-image"
)

// VerifyOptions configure AddVerifier.
type VerifyOptions struct {
	// Store is the backupstore (--backupstore); required.
	Store *restore.Store
	// RestoreDir (--restore-dir) materializes each restore PVC's backup at
	// DIR/<namespace>/<pvc>.img; empty disables it.
	RestoreDir string
	// Workers is the number of PVCs handled at once; default 1 (each
	// verification already fetches blocks in parallel).
	Workers int
}

// verifier runs, after a restore PVC was admitted and created, a deep
// verification of its backup (Events on the PVC and the VolumeSnapshot, a
// metric, an annotation) and optionally materializes the image. It follows
// PVCs rather than being called from admission, so dry-run and denied
// requests never start work and a restart resumes where annotations say.
type verifier struct {
	client client.Client
	// live re-reads a PVC before work starts: the cache can lag behind the
	// verifier's own annotation patches, and a stale copy would restore twice.
	live       client.Reader
	recorder   record.EventRecorder
	store      *restore.Store
	restoreDir string
}

// AddVerifier adds the background verifier to mgr.
func AddVerifier(mgr manager.Manager, o VerifyOptions) error {
	if o.Store == nil {
		return fmt.Errorf("verifier: no backupstore")
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	v := &verifier{client: mgr.GetClient(), live: mgr.GetAPIReader(), recorder: mgr.GetEventRecorderFor("snaprestore"), store: o.Store, restoreDir: o.RestoreDir}
	restorePVC := predicate.NewPredicateFuncs(func(o client.Object) bool {
		pvc, ok := o.(*corev1.PersistentVolumeClaim)
		return ok && snapshotSource(pvc) != ""
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("snaprestore-backup-verifier").
		For(&corev1.PersistentVolumeClaim{}, builder.WithPredicates(restorePVC)).
		WithOptions(controller.Options{MaxConcurrentReconciles: o.Workers, SkipNameValidation: ptr.To(true)}).
		Complete(v)
}

// snapshotSource is the VolumeSnapshot a PVC restores from, or "".
func snapshotSource(pvc *corev1.PersistentVolumeClaim) string {
	if ref := pvc.Spec.DataSource; ref != nil && ref.Kind == "VolumeSnapshot" && ptr.Deref(ref.APIGroup, "") == snapv1.GroupName {
		return ref.Name
	}
	if r := pvc.Spec.DataSourceRef; r != nil && r.Kind == "VolumeSnapshot" && ptr.Deref(r.APIGroup, "") == snapv1.GroupName &&
		(r.Namespace == nil || *r.Namespace == pvc.Namespace) {
		return r.Name
	}
	return ""
}

// pendingRetry is how soon a PVC whose snapshot is not bound yet is looked at again.
const pendingRetry = 5 * time.Second

func (v *verifier) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logf.FromContext(ctx).WithName("verifier")
	var pvc corev1.PersistentVolumeClaim
	if err := v.client.Get(ctx, req.NamespacedName, &pvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	verified, materialize := v.pending(&pvc)
	if verified && !materialize {
		return reconcile.Result{}, nil
	}
	// The cached copy says there is work; decide on the PVC as it is now.
	if err := v.live.Get(ctx, req.NamespacedName, &pvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if verified, materialize = v.pending(&pvc); verified && !materialize {
		return reconcile.Result{}, nil
	}
	snap, ref, err := v.backupOf(ctx, &pvc)
	if err != nil || snap == nil {
		return reconcile.Result{RequeueAfter: pendingRetry}, err
	}
	if ref == nil {
		return reconcile.Result{}, nil // not a Longhorn backup
	}
	log = log.WithValues("pvc", req.NamespacedName, "backup", ref.Handle())
	if !verified {
		note := v.verify(ctx, &pvc, snap, ref)
		log.V(1).Info("Verified backup", "result", note)
		if err := v.annotate(ctx, &pvc, map[string]string{AnnotationVerification: note}); err != nil {
			return reconcile.Result{}, err
		}
	}
	if materialize {
		return reconcile.Result{}, v.materialize(ctx, &pvc, ref)
	}
	return reconcile.Result{}, nil
}

// pending reports whether the PVC's backup was verified already and whether its
// image still has to be materialized; a PVC being deleted needs neither.
func (v *verifier) pending(pvc *corev1.PersistentVolumeClaim) (verified, materialize bool) {
	if !pvc.DeletionTimestamp.IsZero() {
		return true, false
	}
	status := pvc.Annotations[AnnotationRestoreStatus]
	materialize = v.restoreDir != "" && status != materializeCompleted && !strings.HasPrefix(status, materializeFailed)
	return pvc.Annotations[AnnotationVerification] != "", materialize
}

// backupOf follows PVC → VolumeSnapshot → VolumeSnapshotContent → handle. A
// nil snapshot means "not there or not bound yet"; a nil reference means the
// content is not a Longhorn backup.
func (v *verifier) backupOf(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (*snapv1.VolumeSnapshot, *restore.Reference, error) {
	var snap snapv1.VolumeSnapshot
	if err := v.client.Get(ctx, types.NamespacedName{Namespace: pvc.Namespace, Name: snapshotSource(pvc)}, &snap); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	name := ptr.Deref(snap.Spec.Source.VolumeSnapshotContentName, "")
	if name == "" && snap.Status != nil {
		name = ptr.Deref(snap.Status.BoundVolumeSnapshotContentName, "")
	}
	if name == "" {
		return nil, nil, nil
	}
	var content snapv1.VolumeSnapshotContent
	if err := v.client.Get(ctx, types.NamespacedName{Name: name}, &content); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	handle := ptr.Deref(content.Spec.Source.SnapshotHandle, "")
	if handle == "" && content.Status != nil {
		handle = ptr.Deref(content.Status.SnapshotHandle, "")
	}
	h, err := restore.ParseHandle(handle)
	if err != nil || h.Kind != restore.KindBackup {
		return &snap, nil, nil
	}
	return &snap, &restore.Reference{Volume: h.Volume, Backup: h.Name}, nil
}

// verify checks every block and reports on the PVC and the VolumeSnapshot;
// it returns the annotation value.
func (v *verifier) verify(ctx context.Context, pvc *corev1.PersistentVolumeClaim, snap *snapv1.VolumeSnapshot, ref *restore.Reference) string {
	rep, err := restore.Verify(ctx, v.store.Store, ref.Volume, ref.Backup, restore.VerifyOptions{})
	var (
		kind, reason, msg, note string
	)
	switch {
	case err != nil:
		verifications.WithLabelValues(verifyError).Inc()
		kind, reason = corev1.EventTypeWarning, "BackupVerificationFailed"
		msg = fmt.Sprintf("backup %s could not be verified: %v", ref.Handle(), err)
		note = "error: " + err.Error()
	case !rep.OK():
		verifications.WithLabelValues(verifyDamaged).Inc()
		verifiedBytes.Add(float64(rep.Bytes))
		kind, reason = corev1.EventTypeWarning, "BackupDamaged"
		msg = fmt.Sprintf("backup %s is damaged: %d of %d block objects failed verification; first: %v", ref.Handle(), len(rep.Problems), rep.Objects, rep.Problems[0])
		note = fmt.Sprintf("damaged: %d of %d block objects", len(rep.Problems), rep.Objects)
	default:
		verifications.WithLabelValues(verifyIntact).Inc()
		verifiedBytes.Add(float64(rep.Bytes))
		kind, reason = corev1.EventTypeNormal, "BackupVerified"
		msg = fmt.Sprintf("backup %s verified: %d blocks (%d bytes) intact", ref.Handle(), rep.Blocks, rep.Bytes)
		note = verifyIntact
	}
	v.recorder.Event(pvc, kind, reason, msg)
	v.recorder.Event(snap, kind, reason, msg)
	return note
}

// materialize restores the backup to DIR/<namespace>/<pvc>.img, resuming an
// interrupted run, with progress in an annotation and Events.
func (v *verifier) materialize(ctx context.Context, pvc *corev1.PersistentVolumeClaim, ref *restore.Reference) error {
	path := filepath.Join(v.restoreDir, pvc.Namespace, pvc.Name+".img")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return v.failMaterialize(ctx, pvc, ref, err)
	}
	v.recorder.Eventf(pvc, corev1.EventTypeNormal, "Restoring", "restoring backup %s to %s", ref.Handle(), path)
	if err := v.annotate(ctx, pvc, map[string]string{AnnotationRestoreStatus: "restoring 0%", AnnotationRestoredImage: path}); err != nil {
		return err
	}
	lastDecile := 0
	progress := func(p restore.Progress) {
		if p.TotalBytes == 0 {
			return
		}
		d := int(p.Bytes * 10 / p.TotalBytes)
		if d <= lastDecile || d == 10 {
			return
		}
		lastDecile = d
		pct := fmt.Sprintf("restoring %d%%", d*10)
		if err := v.annotate(ctx, pvc, map[string]string{AnnotationRestoreStatus: pct}); err != nil {
			logf.FromContext(ctx).V(1).Info("Progress annotation not updated", "error", err.Error())
		}
		v.recorder.Eventf(pvc, corev1.EventTypeNormal, "Restoring", "backup %s: %d%% restored", ref.Handle(), d*10)
	}
	sum, err := restore.Restore(ctx, v.store.Store, ref.Volume, ref.Backup, path, restore.Options{Resume: true, Force: true, Progress: progress})
	if err != nil {
		return v.failMaterialize(ctx, pvc, ref, err)
	}
	materializations.WithLabelValues(materializeCompleted).Inc()
	writtenBytes.Add(float64(sum.Written))
	v.recorder.Eventf(pvc, corev1.EventTypeNormal, "Restored", "backup %s restored to %s: %d blocks in %s",
		ref.Handle(), path, sum.Blocks, sum.Duration.Round(time.Millisecond))
	return v.annotate(ctx, pvc, map[string]string{AnnotationRestoreStatus: materializeCompleted})
}

func (v *verifier) failMaterialize(ctx context.Context, pvc *corev1.PersistentVolumeClaim, ref *restore.Reference, err error) error {
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: resume on the next start
	}
	materializations.WithLabelValues(materializeFailed).Inc()
	v.recorder.Eventf(pvc, corev1.EventTypeWarning, "RestoreFailed", "backup %s could not be restored: %v", ref.Handle(), err)
	return v.annotate(ctx, pvc, map[string]string{AnnotationRestoreStatus: materializeFailed + ": " + err.Error()})
}

// annotate merge-patches annotations onto the PVC.
func (v *verifier) annotate(ctx context.Context, pvc *corev1.PersistentVolumeClaim, ann map[string]string) error {
	patch := client.MergeFrom(pvc.DeepCopy())
	if pvc.Annotations == nil {
		pvc.Annotations = map[string]string{}
	}
	for k, val := range ann {
		pvc.Annotations[k] = val
	}
	if err := v.client.Patch(ctx, pvc, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("annotate PVC %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}
