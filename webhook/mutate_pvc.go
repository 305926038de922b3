package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
	"github.com/snaprestore/snaprestore/webhook/source"
)

// pvcMutation turns a PVC annotated with a bare backup reference into a one-object restore:
// it creates the VolumeSnapshotContent and a VolumeSnapshot named after the PVC, points the
// PVC's dataSource and dataSourceRef at that snapshot and, when the backup's size is known,
// raises a smaller storage request to it. On CREATE it also denies a data source of kind
// VolumeSnapshot with a wrong or missing apiGroup (validatePVCSnapshotGroup), annotated or
// not, and otherwise leaves an unannotated claim alone.
type pvcMutation struct {
	store         apiObjects
	defaultDriver string
	canonical     func(string) string
	backups       Backups // nil: no backupstore, no pre-flight, sizes unknown
	// longhorn are the Longhorn drivers when the populator runs; other classes'
	// claims get a BackupSource (mutate_backupsource.go). nil: populator off.
	longhorn []string
}

var _ mutation[*corev1.PersistentVolumeClaim] = (*pvcMutation)(nil)

func (m *pvcMutation) mutate(ctx context.Context, req admission.Request, pvc, old *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	if old == nil {
		// The validating webhook never sees this mistake: the API server drops the data
		// source between mutating and validating admission.
		if errs := validatePVCSnapshotGroup(pvc); len(errs) > 0 {
			return nil, apierrors.NewInvalid(persistentVolumeClaimGK, pvc.Name, errs)
		}
	}
	if !hasBackupAnnotation(pvc) {
		return nil, nil
	}
	br, errs := parseBackupRequest(pvc.Annotations)
	ns := firstNonEmpty(pvc.Namespace, req.Namespace)
	if ds, ok := source.DataSource(pvc); ok && !isOwnSnapshot(ds, pvc.Name, ns) && !isBackupSourceRef(ds, pvc.Name, ns) {
		errs = append(errs, field.Forbidden(annotationPath(AnnotationBackup), fmt.Sprintf(
			"must not be set together with %s naming %s %q: the PVC restores either the backup or its data source", ds.Path, ds.Kind, ds.Name)))
	}
	if pvc.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "a PVC restoring a backup needs a fixed name (generateName is not supported)"))
	}
	if len(errs) > 0 {
		if old != nil {
			return br.Warnings, nil // ratchet: an object admitted before is not judged again
		}
		return br.Warnings, apierrors.NewInvalid(persistentVolumeClaimGK, pvc.Name, errs)
	}
	if old != nil {
		// dataSource is immutable and was set at creation; a re-apply that drops it gets it
		// back. The size is raised again below, because kubectl apply sends the manifest's
		// smaller request back.
		if pvc.Spec.DataSource == nil && pvc.Spec.DataSourceRef == nil {
			pvc.Spec.DataSource, pvc.Spec.DataSourceRef = old.Spec.DataSource, old.Spec.DataSourceRef
		}
		return append(br.Warnings, m.raiseSize(ctx, pvc, br)...), nil
	}
	perrs, pwarns := checkBackup(ctx, m.backups, annotationPath(AnnotationBackup), pvc.Annotations[AnnotationBackup], br.Ref)
	br.Warnings = append(br.Warnings, pwarns...)
	if len(perrs) > 0 {
		return br.Warnings, apierrors.NewInvalid(persistentVolumeClaimGK, pvc.Name, perrs)
	}
	if use, err := m.usePopulator(ctx, pvc); err != nil {
		return br.Warnings, err
	} else if use {
		return m.populateFromBackup(ctx, req, pvc, br)
	}
	if err := m.ensureObjects(ctx, req, pvc, br); err != nil {
		return br.Warnings, err
	}
	group := snapv1.GroupName
	pvc.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: &group, Kind: volumeSnapshotGK.Kind, Name: pvc.Name}
	pvc.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &group, Kind: volumeSnapshotGK.Kind, Name: pvc.Name}
	return append(br.Warnings, m.raiseSize(ctx, pvc, br)...), nil
}

// ensureObjects creates (or reuses) the content, then the snapshot named after the PVC.
func (m *pvcMutation) ensureObjects(ctx context.Context, req admission.Request, pvc *corev1.PersistentVolumeClaim, br backupRequest) error {
	namespace := firstNonEmpty(pvc.Namespace, req.Namespace)
	driver, err := m.driver(ctx, pvc.Spec.StorageClassName)
	if err != nil {
		return err
	}
	cr := contentRequest{
		Name:              contentName(namespace, pvc.Name, br.Handle),
		SnapshotNamespace: namespace,
		SnapshotName:      pvc.Name,
		Handle:            br.Handle,
		Driver:            driver,
		DeletionPolicy:    br.DeletionPolicy,
	}
	deny := func(msg string) error {
		return apierrors.NewInvalid(persistentVolumeClaimGK, pvc.Name, field.ErrorList{
			field.Forbidden(annotationPath(AnnotationBackup), msg)})
	}
	if err := ensureContent(ctx, m.store, cr, m.canonical, dryRun(req), sourcePVC); err != nil {
		var conflict conflictError
		if errors.As(err, &conflict) {
			return deny(string(conflict))
		}
		return err
	}
	want := desiredSnapshot(namespace, pvc.Name, cr.Name)
	outcome, diffs, err := ensure(ctx, m.store, want, &snapv1.VolumeSnapshot{},
		func(have *snapv1.VolumeSnapshot) []string { return snapshotDifferences(have, cr.Name) }, dryRun(req))
	if err != nil {
		return err
	}
	recordEnsure("VolumeSnapshot", sourcePVC, outcome)
	logf.FromContext(ctx).V(1).Info("Ensured VolumeSnapshot", "snapshot", pvc.Name, "outcome", outcome)
	if outcome == outcomeConflict {
		return deny(fmt.Sprintf("VolumeSnapshot %q already exists and does not match: %s; rename the PVC or delete that snapshot", pvc.Name, strings.Join(diffs, "; ")))
	}
	return nil
}

// driver is the provisioner of the PVC's StorageClass (the restore must be provisioned by the
// driver that owns the snapshot), else the default driver.
func (m *pvcMutation) driver(ctx context.Context, class *string) (string, error) {
	if class == nil || *class == "" {
		return m.defaultDriver, nil
	}
	var sc storagev1.StorageClass
	err := m.store.get(ctx, types.NamespacedName{Name: *class}, &sc)
	switch {
	case apierrors.IsNotFound(err):
		return m.defaultDriver, nil
	case err != nil:
		return "", fmt.Errorf("read StorageClass %q: %w", *class, err)
	}
	return sc.Provisioner, nil
}

// raiseSize raises the storage request to the backup's size when that is known and larger;
// Longhorn would otherwise create a volume of the backup's size and fail on retry.
func (m *pvcMutation) raiseSize(ctx context.Context, pvc *corev1.PersistentVolumeClaim, br backupRequest) []string {
	if m.backups == nil {
		return nil
	}
	f := m.backups.Facts(ctx, br.Ref)
	if f.Unreachable != nil {
		logf.FromContext(ctx).Info("Backup size unknown, storage request left alone", "backup", br.Handle, "error", f.Unreachable.Error())
	}
	size, known := f.Size()
	if !known {
		return nil
	}
	if w := raiseRequest(pvc, size, br.Ref); w != "" {
		return []string{w}
	}
	return nil
}

// raiseRequest is the pure part of raiseSize: it edits pvc and returns the warning, or "".
func raiseRequest(pvc *corev1.PersistentVolumeClaim, size int64, ref restore.Reference) string {
	want := resource.NewQuantity(size, resource.BinarySI)
	have, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if ok && have.Cmp(*want) >= 0 {
		return ""
	}
	if pvc.Spec.Resources.Requests == nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{}
	}
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = *want
	p := field.NewPath("spec", "resources", "requests").Key(string(corev1.ResourceStorage))
	if !ok {
		return fmt.Sprintf("%s: set to %s, the size of backup %s", p, want, ref.Handle())
	}
	return fmt.Sprintf("%s: raised from %s to %s, the size of backup %s", p, have.String(), want, ref.Handle())
}

// desiredSnapshot is the pre-provisioned VolumeSnapshot a one-object restore uses.
func desiredSnapshot(namespace, name, content string) *snapv1.VolumeSnapshot {
	return &snapv1.VolumeSnapshot{
		TypeMeta: metav1.TypeMeta{APIVersion: snapv1.SchemeGroupVersion.String(), Kind: volumeSnapshotGK.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   namespace,
			Labels:      map[string]string{LabelManagedBy: ManagedByValue},
			Annotations: map[string]string{AnnotationPersistentVolumeClaim: name},
		},
		Spec: snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: &content}},
	}
}

// snapshotDifferences says why an existing snapshot cannot serve the PVC.
func snapshotDifferences(have *snapv1.VolumeSnapshot, content string) []string {
	var diffs []string
	if s := have.Spec.Source; s.PersistentVolumeClaimName != nil {
		diffs = append(diffs, fmt.Sprintf("spec.source.persistentVolumeClaimName is %q", *s.PersistentVolumeClaimName))
	} else if got := deref(s.VolumeSnapshotContentName); got != content {
		diffs = append(diffs, fmt.Sprintf("spec.source.volumeSnapshotContentName is %q, not %q", got, content))
	}
	if have.DeletionTimestamp != nil {
		diffs = append(diffs, "it is being deleted")
	}
	return diffs
}

// isOwnSnapshot reports whether a data source names the VolumeSnapshot the webhook
// creates for the claim name in namespace: that name, the snapshot API group, and not
// another namespace (a cross-namespace dataSourceRef names someone else's snapshot).
func isOwnSnapshot(ds source.Ref, name, namespace string) bool {
	return ds.IsSnapshot() && ds.GroupOK() && ds.Name == name && (ds.Namespace == "" || ds.Namespace == namespace)
}

// isBackupSourceRef reports whether a data source names the BackupSource the webhook
// creates for the claim name in namespace.
func isBackupSourceRef(ds source.Ref, name, namespace string) bool {
	return ds.APIGroup != nil && *ds.APIGroup == v1alpha1.Group && ds.Kind == v1alpha1.Kind && ds.Name == name &&
		(ds.Namespace == "" || ds.Namespace == namespace)
}
