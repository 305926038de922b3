package webhook

import (
	"context"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

// restoreSource is the VolumeSnapshot a PVC restores: its spec.dataSource, or else its
// spec.dataSourceRef, of kind VolumeSnapshot.
type restoreSource struct {
	path            *field.Path // spec.dataSource or spec.dataSourceRef
	apiGroup        *string
	namespace, name string
}

func pvcRestoreSource(pvc *corev1.PersistentVolumeClaim) (restoreSource, bool) {
	if ds := pvc.Spec.DataSource; ds != nil && ds.Kind == volumeSnapshotGK.Kind {
		return restoreSource{path: field.NewPath("spec", "dataSource"), apiGroup: ds.APIGroup, namespace: pvc.Namespace, name: ds.Name}, true
	}
	if dr := pvc.Spec.DataSourceRef; dr != nil && dr.Kind == volumeSnapshotGK.Kind {
		ns := pvc.Namespace
		if dr.Namespace != nil && *dr.Namespace != "" {
			ns = *dr.Namespace
		}
		return restoreSource{path: field.NewPath("spec", "dataSourceRef"), apiGroup: dr.APIGroup, namespace: ns, name: dr.Name}, true
	}
	return restoreSource{}, false
}

// pvcFacts are what the PVC rule knows about the snapshot it restores.
type pvcFacts struct {
	snapshot         *snapv1.VolumeSnapshot
	snapshotPresence Presence
	// content is the snapshot's content when contentPresence is Found: the one it is bound
	// to, or the pre-provisioned one naming it.
	content         *snapv1.VolumeSnapshotContent
	contentPresence Presence
	// storageClass is spec.storageClassName's class, looked up when content is Found.
	storageClass         *storagev1.StorageClass
	storageClassPresence Presence
	// backupSize is the size of the Longhorn backup the content restores, when known.
	backupSize      *resource.Quantity
	backupReference string
	// dryRunBackup: the request is a dry run and the claim carries snaprestore.io/backup,
	// so the mutating webhook pointed it at a VolumeSnapshot named after it that it did
	// not create (sideEffects NoneOnDryRun).
	dryRunBackup bool
}

func (r *Rules) pvc(ctx context.Context, pvc, old *corev1.PersistentVolumeClaim) (field.ErrorList, admission.Warnings) {
	src, ok := pvcRestoreSource(pvc)
	if old != nil || !ok || !snapshotGroup(src) {
		return validatePVC(pvc, old, pvcFacts{})
	}
	var f pvcFacts
	f.dryRunBackup = requestDryRun(ctx) && hasBackupAnnotation(pvc)
	f.snapshot, f.snapshotPresence = r.objects.Snapshot(ctx, src.namespace, src.name)
	if f.snapshotPresence != Found {
		return validatePVC(pvc, old, f)
	}
	if name := snapshotContentName(f.snapshot); name != "" {
		f.content, f.contentPresence = r.objects.Content(ctx, name)
	}
	if f.contentPresence != Found || !contentServes(f.content, f.snapshot) {
		return validatePVC(pvc, old, f)
	}
	if sc := pvc.Spec.StorageClassName; sc != nil && *sc != "" {
		f.storageClass, f.storageClassPresence = r.objects.StorageClass(ctx, *sc)
	}
	if restoreSize(f.snapshot) == nil && r.opts.Sizes != nil && r.longhorn(f.content.Spec.Driver) && f.content.Spec.Source.SnapshotHandle != nil {
		if ref, err := restore.ParseReference(*f.content.Spec.Source.SnapshotHandle); err == nil {
			if size, known, err := r.opts.Sizes.BackupSize(ctx, ref); err == nil && known {
				f.backupSize, f.backupReference = resource.NewQuantity(size, resource.BinarySI), ref.Handle()
			}
		}
	}
	return validatePVC(pvc, old, f)
}

func snapshotGroup(src restoreSource) bool {
	return src.apiGroup != nil && *src.apiGroup == snapv1.GroupName
}

// snapshotContentName is the content the snapshot is bound to, or the pre-provisioned one
// it names.
func snapshotContentName(s *snapv1.VolumeSnapshot) string {
	if s.Status != nil && s.Status.BoundVolumeSnapshotContentName != nil {
		return *s.Status.BoundVolumeSnapshotContentName
	}
	return deref(s.Spec.Source.VolumeSnapshotContentName)
}

// contentServes: the content is (or will be) bound to the snapshot.
func contentServes(c *snapv1.VolumeSnapshotContent, s *snapv1.VolumeSnapshot) bool {
	ref := c.Spec.VolumeSnapshotRef
	return ref.Namespace == s.Namespace && ref.Name == s.Name
}

func restoreSize(s *snapv1.VolumeSnapshot) *resource.Quantity {
	if s.Status == nil {
		return nil
	}
	return s.Status.RestoreSize
}

// validatePVC is the restore PVC rule, on CREATE only (the data source is immutable).
func validatePVC(pvc, old *corev1.PersistentVolumeClaim, f pvcFacts) (field.ErrorList, admission.Warnings) {
	src, ok := pvcRestoreSource(pvc)
	if old != nil || !ok {
		return nil, nil
	}
	if errs := validatePVCSnapshotGroup(pvc); len(errs) > 0 {
		return errs, nil
	}
	name := src.path.Child("name")
	switch f.snapshotPresence {
	case Missing:
		if f.dryRunBackup && src.namespace == pvc.Namespace && src.name == pvc.Name {
			return nil, nil // the real request creates it
		}
		return nil, admission.Warnings{fmt.Sprintf("%s: VolumeSnapshot %s/%s does not exist; the claim stays Pending until it does", name, src.namespace, src.name)}
	case Unknown:
		return nil, admission.Warnings{fmt.Sprintf("%s: VolumeSnapshot %s/%s could not be looked up; it must exist in namespace %q", name, src.namespace, src.name, src.namespace)}
	}
	errs, warnings := validatePVCDriver(pvc, src, f)
	return append(errs, validatePVCSize(pvc, src, f)...), warnings
}

// validatePVCSnapshotGroup: a data source of kind VolumeSnapshot must name API group
// snapshot.storage.k8s.io. The API server drops one with another or no apiGroup while
// preparing the create, after mutating and before validating admission, and provisions an
// empty volume; so the mutating PVC webhook, which still sees the original claim, denies
// with this rule too. Nil for a claim that restores no VolumeSnapshot.
func validatePVCSnapshotGroup(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	src, ok := pvcRestoreSource(pvc)
	if !ok || snapshotGroup(src) {
		return nil
	}
	group := src.path.Child("apiGroup")
	msg := fmt.Sprintf("kind VolumeSnapshot is in API group %q, and the API server drops a data source of another group, leaving an empty volume; expected apiGroup: %s",
		snapv1.GroupName, snapv1.GroupName)
	if src.apiGroup == nil || *src.apiGroup == "" {
		return field.ErrorList{field.Required(group, msg)}
	}
	return field.ErrorList{field.Invalid(group, *src.apiGroup, msg)}
}

// validatePVCDriver: the StorageClass's provisioner must be the driver of the content the
// snapshot restores, or the CSI provisioner never picks the claim up.
func validatePVCDriver(pvc *corev1.PersistentVolumeClaim, src restoreSource, f pvcFacts) (field.ErrorList, admission.Warnings) {
	if f.contentPresence != Found || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
		return nil, nil
	}
	p := field.NewPath("spec", "storageClassName")
	sc, driver := *pvc.Spec.StorageClassName, f.content.Spec.Driver
	switch f.storageClassPresence {
	case Missing:
		return nil, admission.Warnings{fmt.Sprintf("%s: StorageClass %q does not exist; the claim stays Pending until it does (its provisioner must be %q)", p, sc, driver)}
	case Unknown:
		return nil, admission.Warnings{fmt.Sprintf("%s: StorageClass %q could not be looked up; its provisioner must be %q", p, sc, driver)}
	}
	if f.storageClass.Provisioner != driver {
		return field.ErrorList{field.Invalid(p, sc, fmt.Sprintf(
			"StorageClass %q has provisioner %q, but VolumeSnapshot %s/%s is of VolumeSnapshotContent %q with driver %q; expected a StorageClass whose provisioner is %q",
			sc, f.storageClass.Provisioner, src.namespace, src.name, f.content.Name, driver, driver))}, nil
	}
	return nil, nil
}

// validatePVCSize: a request below the snapshot's restore size (or, before the snapshot
// controller filled it, the size of the Longhorn backup) cannot be provisioned.
func validatePVCSize(pvc *corev1.PersistentVolumeClaim, src restoreSource, f pvcFacts) field.ErrorList {
	req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	p := field.NewPath("spec", "resources", "requests").Key(string(corev1.ResourceStorage))
	if size := restoreSize(f.snapshot); size != nil {
		if req.Cmp(*size) < 0 {
			return field.ErrorList{field.Invalid(p, req.String(), fmt.Sprintf(
				"below the restore size %s of VolumeSnapshot %s/%s; expected at least %s", size, src.namespace, src.name, size))}
		}
		return nil
	}
	if f.backupSize != nil && req.Cmp(*f.backupSize) < 0 {
		return field.ErrorList{field.Invalid(p, req.String(), fmt.Sprintf(
			"below the size %s of backup %s that VolumeSnapshot %s/%s restores; expected at least %s", f.backupSize, f.backupReference, src.namespace, src.name, f.backupSize))}
	}
	return nil
}
