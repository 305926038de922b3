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

	"github.com/snaprestore/snaprestore/webhook/source"
)

// pvcFacts are what the PVC rule knows about the snapshot it restores (source.Resolve's
// chain) and the claim's StorageClass.
type pvcFacts struct {
	source.Chain
	// storageClass is spec.storageClassName's class, looked up when the content is Found.
	storageClass         *storagev1.StorageClass
	storageClassPresence Presence
	// backupSize is the size of the Longhorn backup the content restores, when known.
	backupSize *resource.Quantity
	// dryRunBackup: the request is a dry run and the claim carries snaprestore.io/backup,
	// so the mutating webhook pointed it at a VolumeSnapshot named after it that it did
	// not create (sideEffects NoneOnDryRun).
	dryRunBackup bool
}

func (r *Rules) pvc(ctx context.Context, pvc, old *corev1.PersistentVolumeClaim) (field.ErrorList, admission.Warnings) {
	if old != nil {
		return nil, nil // the data source is immutable: judged on CREATE only
	}
	f := pvcFacts{Chain: source.Resolve(ctx, r.objects, pvc, r.opts.LonghornDrivers)}
	f.dryRunBackup = requestDryRun(ctx) && hasBackupAnnotation(pvc)
	if f.ContentPresence != Found {
		return validatePVC(pvc, f)
	}
	if sc := pvc.Spec.StorageClassName; sc != nil && *sc != "" {
		f.storageClass, f.storageClassPresence = r.objects.StorageClass(ctx, *sc)
	}
	if restoreSize(f.Snapshot) == nil && r.opts.Backups != nil && f.HasBackup {
		if size, known := r.opts.Backups.Facts(ctx, f.Backup).Size(); known {
			f.backupSize = resource.NewQuantity(size, resource.BinarySI)
		}
	}
	return validatePVC(pvc, f)
}

func restoreSize(s *snapv1.VolumeSnapshot) *resource.Quantity {
	if s.Status == nil {
		return nil
	}
	return s.Status.RestoreSize
}

// validatePVC is the restore PVC rule, on CREATE only (the data source is immutable).
func validatePVC(pvc *corev1.PersistentVolumeClaim, f pvcFacts) (field.ErrorList, admission.Warnings) {
	src := f.Source
	if !f.Restores {
		return nil, nil
	}
	if errs := validatePVCSnapshotGroup(pvc); len(errs) > 0 {
		return errs, nil
	}
	name := src.Path.Child("name")
	switch f.SnapshotPresence {
	case Missing:
		if f.dryRunBackup && src.Namespace == pvc.Namespace && src.Name == pvc.Name {
			return nil, nil // the real request creates it
		}
		return nil, admission.Warnings{fmt.Sprintf("%s: VolumeSnapshot %s/%s does not exist; the claim stays Pending until it does", name, src.Namespace, src.Name)}
	case Unknown:
		return nil, admission.Warnings{fmt.Sprintf("%s: VolumeSnapshot %s/%s could not be looked up; it must exist in namespace %q", name, src.Namespace, src.Name, src.Namespace)}
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
	src, ok := source.Snapshot(pvc)
	if !ok || src.GroupOK() {
		return nil
	}
	group := src.Path.Child("apiGroup")
	msg := fmt.Sprintf("kind VolumeSnapshot is in API group %q, and the API server drops a data source of another group, leaving an empty volume; expected apiGroup: %s",
		snapv1.GroupName, snapv1.GroupName)
	if src.APIGroup == nil || *src.APIGroup == "" {
		return field.ErrorList{field.Required(group, msg)}
	}
	return field.ErrorList{field.Invalid(group, *src.APIGroup, msg)}
}

// validatePVCDriver: the StorageClass's provisioner must be the driver of the content the
// snapshot restores, or the CSI provisioner never picks the claim up.
func validatePVCDriver(pvc *corev1.PersistentVolumeClaim, src source.Ref, f pvcFacts) (field.ErrorList, admission.Warnings) {
	if f.ContentPresence != Found || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
		return nil, nil
	}
	p := field.NewPath("spec", "storageClassName")
	sc, driver := *pvc.Spec.StorageClassName, f.Content.Spec.Driver
	switch f.storageClassPresence {
	case Missing:
		return nil, admission.Warnings{fmt.Sprintf("%s: StorageClass %q does not exist; the claim stays Pending until it does (its provisioner must be %q)", p, sc, driver)}
	case Unknown:
		return nil, admission.Warnings{fmt.Sprintf("%s: StorageClass %q could not be looked up; its provisioner must be %q", p, sc, driver)}
	}
	if f.storageClass.Provisioner != driver {
		return field.ErrorList{field.Invalid(p, sc, fmt.Sprintf(
			"StorageClass %q has provisioner %q, but VolumeSnapshot %s/%s is of VolumeSnapshotContent %q with driver %q; expected a StorageClass whose provisioner is %q",
			sc, f.storageClass.Provisioner, src.Namespace, src.Name, f.Content.Name, driver, driver))}, nil
	}
	return nil, nil
}

// validatePVCSize: a request below the snapshot's restore size (or, before the snapshot
// controller filled it, the size of the Longhorn backup) cannot be provisioned.
func validatePVCSize(pvc *corev1.PersistentVolumeClaim, src source.Ref, f pvcFacts) field.ErrorList {
	req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	p := field.NewPath("spec", "resources", "requests").Key(string(corev1.ResourceStorage))
	if size := restoreSize(f.Snapshot); size != nil {
		if req.Cmp(*size) < 0 {
			return field.ErrorList{field.Invalid(p, req.String(), fmt.Sprintf(
				"below the restore size %s of VolumeSnapshot %s/%s; expected at least %s", size, src.Namespace, src.Name, size))}
		}
		return nil
	}
	if f.backupSize != nil && req.Cmp(*f.backupSize) < 0 {
		return field.ErrorList{field.Invalid(p, req.String(), fmt.Sprintf(
			"below the size %s of backup %s that VolumeSnapshot %s/%s restores; expected at least %s", f.backupSize, f.Backup.Handle(), src.Namespace, src.Name, f.backupSize))}
	}
	return nil
}
