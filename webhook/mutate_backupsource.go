package webhook

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/webhook/populator"
	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

// usePopulator: with the populator on, an annotated PVC whose StorageClass's
// provisioner is not a Longhorn driver is restored by the populator (a
// BackupSource) instead of a VolumeSnapshot no other driver could restore
// (issue #10). Longhorn classes, and claims without a class, keep the
// VolumeSnapshot flow.
func (m *pvcMutation) usePopulator(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (bool, error) {
	if m.longhorn == nil || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
		return false, nil
	}
	driver, err := m.driver(ctx, pvc.Spec.StorageClassName)
	if err != nil {
		return false, err
	}
	return !slices.Contains(m.longhorn, driver), nil
}

// populateFromBackup creates (or reuses) the BackupSource named after the PVC
// and points the claim's dataSourceRef at it. The populator controller makes
// the PVC its owner once the PVC has a UID, so it goes with the claim.
func (m *pvcMutation) populateFromBackup(ctx context.Context, req admission.Request, pvc *corev1.PersistentVolumeClaim, br backupRequest) (admission.Warnings, error) {
	namespace := firstNonEmpty(pvc.Namespace, req.Namespace)
	want := &v1alpha1.BackupSource{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: pvc.Name, Namespace: namespace,
			Labels:      map[string]string{LabelManagedBy: ManagedByValue},
			Annotations: map[string]string{populator.AnnCreatedFor: pvc.Name}},
		Spec: v1alpha1.BackupSourceSpec{Backup: br.Handle},
	}
	var have v1alpha1.BackupSource
	err := m.store.get(ctx, types.NamespacedName{Namespace: namespace, Name: pvc.Name}, &have)
	switch {
	case err == nil && have.Spec.Backup != br.Handle:
		return br.Warnings, apierrors.NewInvalid(persistentVolumeClaimGK, pvc.Name, field.ErrorList{field.Forbidden(annotationPath(AnnotationBackup), fmt.Sprintf(
			"BackupSource %s/%s already exists with spec.backup %s; rename the PVC or delete that BackupSource", namespace, pvc.Name, have.Spec.Backup))})
	case apierrors.IsNotFound(err) && !dryRun(req):
		if err := m.store.writer.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return br.Warnings, fmt.Errorf("create BackupSource %s/%s: %w", namespace, pvc.Name, err)
		}
	case err != nil && !apierrors.IsNotFound(err):
		return br.Warnings, fmt.Errorf("read BackupSource %s/%s: %w", namespace, pvc.Name, err)
	}
	group := v1alpha1.Group
	pvc.Spec.DataSource = nil
	pvc.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &group, Kind: v1alpha1.Kind, Name: pvc.Name}
	if pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		// Block holds the whole image; Filesystem needs room for the files only.
		return append(br.Warnings, m.raiseSize(ctx, pvc, br)...), nil
	}
	return br.Warnings, nil
}
