package verify

import (
	"context"
	"fmt"
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
	"github.com/snaprestore/snaprestore/webhook/source"
)

// AnnotationVerification is the annotation the verifier writes on restore PVCs:
// "intact", "damaged: <n> of <m> block objects" or "error: <reason>"; present once
// the backup was verified.
const AnnotationVerification = "snaprestore.io/backup-verification"

// Options configure Add.
type Options struct {
	// Store is the backupstore (--backupstore); required.
	Store *restore.Store
	// LonghornDrivers are the drivers whose bak:// handles name backups of Store
	// (--longhorn-driver, defaulted by the webhook's Options); required.
	LonghornDrivers []string
	// Workers is the number of PVCs handled at once; default 1 (each verification
	// already fetches blocks in parallel).
	Workers int
}

// verifier runs, after a restore PVC was admitted and created, a deep verification of
// its backup (Events on the PVC and the VolumeSnapshot, a metric, an annotation). It
// follows PVCs rather than being called from admission, so dry-run and denied requests
// never start work and a restart resumes where the annotation says.
type verifier struct {
	client client.Client
	// live re-reads a PVC before work starts: the cache can lag behind the verifier's
	// own annotation patch, and a stale copy would verify twice.
	live     client.Reader
	recorder record.EventRecorder
	store    *restore.Store
	drivers  []string
}

// Add adds the background verifier to mgr.
func Add(mgr manager.Manager, o Options) error {
	if o.Store == nil || len(o.LonghornDrivers) == 0 {
		return fmt.Errorf("verifier: needs a backupstore and the Longhorn drivers (have %v, %q)", o.Store != nil, o.LonghornDrivers)
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	v := &verifier{client: mgr.GetClient(), live: mgr.GetAPIReader(), recorder: mgr.GetEventRecorderFor("snaprestore"),
		store: o.Store, drivers: o.LonghornDrivers}
	restorePVC := predicate.NewPredicateFuncs(func(o client.Object) bool {
		pvc, ok := o.(*corev1.PersistentVolumeClaim)
		if !ok {
			return false
		}
		src, ok := source.Snapshot(pvc)
		return ok && src.GroupOK()
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("snaprestore-backup-verifier").
		For(&corev1.PersistentVolumeClaim{}, builder.WithPredicates(restorePVC)).
		WithOptions(controller.Options{MaxConcurrentReconciles: o.Workers, SkipNameValidation: ptr.To(true)}).
		Complete(v)
}

// pendingRetry is how soon a PVC whose snapshot is not bound yet is looked at again.
const pendingRetry = 5 * time.Second

// Reconcile implements reconcile.Reconciler.
func (v *verifier) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pvc corev1.PersistentVolumeClaim
	if err := v.client.Get(ctx, req.NamespacedName, &pvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if done(&pvc) {
		return reconcile.Result{}, nil
	}
	// The cached copy says there is work; decide on the PVC as it is now.
	if err := v.live.Get(ctx, req.NamespacedName, &pvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if done(&pvc) {
		return reconcile.Result{}, nil
	}
	ch := source.Resolve(ctx, lookup{r: v.client}, &pvc, v.drivers)
	if ch.ContentPresence != source.Found {
		return reconcile.Result{RequeueAfter: pendingRetry}, nil // not there or not bound yet
	}
	if !ch.HasBackup {
		return reconcile.Result{}, nil // not a Longhorn backup
	}
	note := v.verify(ctx, &pvc, ch.Snapshot, ch.Backup)
	logf.FromContext(ctx).WithName("verifier").V(1).Info("Verified backup", "pvc", req.NamespacedName, "backup", ch.Backup.Handle(), "result", note)
	return reconcile.Result{}, v.annotate(ctx, &pvc, note)
}

// done: the PVC's backup was verified already, or the PVC is being deleted.
func done(pvc *corev1.PersistentVolumeClaim) bool {
	return !pvc.DeletionTimestamp.IsZero() || pvc.Annotations[AnnotationVerification] != ""
}

// lookup is the source.Lookup of the verifier: reads through its client. A read that
// fails for another reason than NotFound is Unknown, and the PVC is retried.
type lookup struct{ r client.Reader }

func presence(err error) source.Presence {
	switch {
	case err == nil:
		return source.Found
	case apierrors.IsNotFound(err):
		return source.Missing
	}
	return source.Unknown
}

func (l lookup) Snapshot(ctx context.Context, namespace, name string) (*snapv1.VolumeSnapshot, source.Presence) {
	var s snapv1.VolumeSnapshot
	return &s, presence(l.r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s))
}

func (l lookup) Content(ctx context.Context, name string) (*snapv1.VolumeSnapshotContent, source.Presence) {
	var c snapv1.VolumeSnapshotContent
	return &c, presence(l.r.Get(ctx, types.NamespacedName{Name: name}, &c))
}

// verify checks every block and reports on the PVC and the VolumeSnapshot; it returns
// the annotation value.
func (v *verifier) verify(ctx context.Context, pvc *corev1.PersistentVolumeClaim, snap *snapv1.VolumeSnapshot, ref restore.Reference) string {
	rep, err := restore.Verify(ctx, v.store.Store, ref.Volume, ref.Backup, restore.VerifyOptions{})
	var kind, reason, msg, note string
	switch {
	case err != nil:
		verifications.WithLabelValues(resultError).Inc()
		kind, reason = corev1.EventTypeWarning, "BackupVerificationFailed"
		msg = fmt.Sprintf("backup %s could not be verified: %v", ref.Handle(), err)
		note = "error: " + err.Error()
	case !rep.OK():
		verifications.WithLabelValues(resultDamaged).Inc()
		verifiedBytes.Add(float64(rep.Bytes))
		kind, reason = corev1.EventTypeWarning, "BackupDamaged"
		msg = fmt.Sprintf("backup %s is damaged: %d of %d block objects failed verification; first: %v", ref.Handle(), len(rep.Problems), rep.Objects, rep.Problems[0])
		note = fmt.Sprintf("damaged: %d of %d block objects", len(rep.Problems), rep.Objects)
	default:
		verifications.WithLabelValues(resultIntact).Inc()
		verifiedBytes.Add(float64(rep.Bytes))
		kind, reason = corev1.EventTypeNormal, "BackupVerified"
		msg = fmt.Sprintf("backup %s verified: %d blocks (%d bytes) intact", ref.Handle(), rep.Blocks, rep.Bytes)
		note = resultIntact
	}
	v.recorder.Event(pvc, kind, reason, msg)
	v.recorder.Event(snap, kind, reason, msg)
	return note
}

// annotate merge-patches the verification result onto the PVC.
func (v *verifier) annotate(ctx context.Context, pvc *corev1.PersistentVolumeClaim, note string) error {
	patch := client.MergeFrom(pvc.DeepCopy())
	if pvc.Annotations == nil {
		pvc.Annotations = map[string]string{}
	}
	pvc.Annotations[AnnotationVerification] = note
	if err := v.client.Patch(ctx, pvc, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("annotate PVC %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}
