package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

// Paths of the BackupSource webhooks (issue #10).
const (
	PathValidateBackupSources = "/validate/backupsources"
	// PathValidatePopulatedPVCs checks claims whose dataSourceRef is a BackupSource.
	PathValidatePopulatedPVCs = "/validate/populated-persistentvolumeclaims"
	// MatchPopulatedPVC is that webhook's matchCondition.
	MatchPopulatedPVC = "has(object.spec.dataSourceRef) && object.spec.dataSourceRef.kind == '" + v1alpha1.Kind + "'"
)

var backupSourceGK = schema.GroupKind{Group: v1alpha1.Group, Kind: v1alpha1.Kind}

// validateBackupSource: spec.backup follows the reference grammar of
// docs/handles.md, with the messages of the snaprestore.io/backup annotation's check.
// CREATE only: the CRD keeps spec immutable.
func validateBackupSource(s *v1alpha1.BackupSource) field.ErrorList {
	if _, err := parseBackupAnnotation(s.Spec.Backup); err != nil {
		err.Field = field.NewPath("spec", "backup").String()
		return field.ErrorList{err}
	}
	return nil
}

// validatePopulatedPVC: a Block claim populated from a BackupSource must hold the
// backup's whole volume (size nil: unknown, nothing denied). Filesystem claims
// need only room for the files, which the populator checks.
func validatePopulatedPVC(pvc *corev1.PersistentVolumeClaim, backup string, size *resource.Quantity) field.ErrorList {
	req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if size == nil || !ok || pvc.Spec.VolumeMode == nil || *pvc.Spec.VolumeMode != corev1.PersistentVolumeBlock || req.Cmp(*size) >= 0 {
		return nil
	}
	p := field.NewPath("spec", "resources", "requests").Key(string(corev1.ResourceStorage))
	return field.ErrorList{field.Invalid(p, req.String(), fmt.Sprintf(
		"below the size %s of backup %s that BackupSource %s/%s restores; expected at least %s",
		size, backup, pvc.Namespace, pvc.Spec.DataSourceRef.Name, size))}
}

// backupSourceValidator adapts validateBackupSource.
type backupSourceValidator struct{}

func (backupSourceValidator) ValidateCreate(_ context.Context, s *v1alpha1.BackupSource) (admission.Warnings, error) {
	return nil, invalid(backupSourceGK, s.Name, validateBackupSource(s))
}
func (backupSourceValidator) ValidateUpdate(context.Context, *v1alpha1.BackupSource, *v1alpha1.BackupSource) (admission.Warnings, error) {
	return nil, nil
}
func (backupSourceValidator) ValidateDelete(context.Context, *v1alpha1.BackupSource) (admission.Warnings, error) {
	return nil, nil
}

// populatedPVCValidator reads the BackupSource live (the webhook's cache does
// not watch BackupSources, so it starts without the CRD) and the backup's size.
type populatedPVCValidator struct {
	live    client.Reader
	backups Backups // nil: no backupstore, sizes unknown
}

func (v populatedPVCValidator) ValidateCreate(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	r := pvc.Spec.DataSourceRef
	if r == nil || r.APIGroup == nil || *r.APIGroup != v1alpha1.Group || r.Kind != v1alpha1.Kind || v.backups == nil {
		return nil, nil
	}
	var src v1alpha1.BackupSource
	if err := v.live.Get(ctx, client.ObjectKey{Namespace: pvc.Namespace, Name: r.Name}, &src); err != nil {
		return nil, nil // missing: the populator reports it on the claim
	}
	ref, err := restore.ParseReference(src.Spec.Backup)
	if err != nil {
		return nil, nil
	}
	n, known := v.backups.Facts(ctx, ref).Size()
	if !known {
		return nil, nil
	}
	return nil, invalid(schema.GroupKind{Kind: "PersistentVolumeClaim"}, pvc.Name, validatePopulatedPVC(pvc, ref.Handle(), resource.NewQuantity(n, resource.BinarySI)))
}
func (populatedPVCValidator) ValidateUpdate(context.Context, *corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	return nil, nil
}
func (populatedPVCValidator) ValidateDelete(context.Context, *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	return nil, nil
}

func invalid(gk schema.GroupKind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(gk, name, errs)
}

// backupSourceWebhooks are the two handlers, for Setup to register.
func backupSourceWebhooks(scheme *runtime.Scheme, live client.Reader, backups Backups) map[string]*admission.Webhook {
	return map[string]*admission.Webhook{
		PathValidateBackupSources: admission.WithValidator[*v1alpha1.BackupSource](scheme, backupSourceValidator{}),
		PathValidatePopulatedPVCs: admission.WithValidator[*corev1.PersistentVolumeClaim](scheme, populatedPVCValidator{live: live, backups: backups}),
	}
}
