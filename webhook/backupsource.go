package webhook

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
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

// secretVerdict is the API server's answer to whether the user creating a
// BackupSource may get the Secret its spec.backupstoreSecretRef names.
type secretVerdict struct {
	User    string // as the admission request names the creator
	Allowed bool
	Reason  string // the authorizer's, often empty on a denial
}

// validateBackupSource: spec.backup follows the reference grammar of
// docs/handles.md, with the messages of the snaprestore.io/backup annotation's
// check; a Secret named by spec.backupstoreSecretRef is one the creator may
// get (secret: the authorizer's verdict; nil when no Secret is named). The
// populator reads the backupstore with that Secret's credentials, so naming a
// Secret its creator cannot read would lend them its credentials.
// CREATE only: the CRD keeps spec immutable.
func validateBackupSource(s *v1alpha1.BackupSource, secret *secretVerdict) field.ErrorList {
	var errs field.ErrorList
	if _, err := parseBackupAnnotation(s.Spec.Backup); err != nil {
		err.Field = field.NewPath("spec", "backup").String()
		errs = append(errs, err)
	}
	if ref := s.Spec.BackupstoreSecretRef; ref != nil && secret != nil && !secret.Allowed {
		why := ""
		if secret.Reason != "" {
			why = " (" + secret.Reason + ")"
		}
		errs = append(errs, field.Forbidden(field.NewPath("spec", "backupstoreSecretRef", "name"), fmt.Sprintf(
			"user %q may not get Secret %s/%s%s, and the populator would restore with its credentials; expected a Secret you may get, or no backupstoreSecretRef for the release's backupstore",
			secret.User, s.Namespace, ref.Name, why)))
	}
	return errs
}

// secretAccess asks the API server's authorizer whether user may get Secret
// namespace/name (a SubjectAccessReview).
type secretAccess func(ctx context.Context, user authenticationv1.UserInfo, namespace, name string) (*secretVerdict, error)

// reviewSecretAccess is secretAccess through c.
func reviewSecretAccess(c client.Client) secretAccess {
	return func(ctx context.Context, user authenticationv1.UserInfo, namespace, name string) (*secretVerdict, error) {
		extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "get", Resource: "secrets", Name: name},
		}}
		if err := c.Create(ctx, sar); err != nil {
			return nil, err
		}
		return &secretVerdict{User: user.Username, Allowed: sar.Status.Allowed, Reason: sar.Status.Reason}, nil
	}
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

// backupSourceValidator adapts validateBackupSource: it asks the authorizer
// about the creator and the Secret a BackupSource names, failing closed.
type backupSourceValidator struct{ access secretAccess }

func (v backupSourceValidator) ValidateCreate(ctx context.Context, s *v1alpha1.BackupSource) (admission.Warnings, error) {
	var verdict *secretVerdict
	if ref := s.Spec.BackupstoreSecretRef; ref != nil {
		req, err := admission.RequestFromContext(ctx)
		if err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("BackupSource %s/%s: no admission request to read its creator from: %w", s.Namespace, s.Name, err))
		}
		if verdict, err = v.access(ctx, req.UserInfo, s.Namespace, ref.Name); err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("BackupSource %s/%s: cannot ask whether %q may get Secret %s/%s (spec.backupstoreSecretRef): %w",
				s.Namespace, s.Name, req.UserInfo.Username, s.Namespace, ref.Name, err))
		}
	}
	return nil, invalid(backupSourceGK, s.Name, validateBackupSource(s, verdict))
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
func backupSourceWebhooks(scheme *runtime.Scheme, live client.Reader, access secretAccess, backups Backups) map[string]*admission.Webhook {
	return map[string]*admission.Webhook{
		PathValidateBackupSources: admission.WithValidator[*v1alpha1.BackupSource](scheme, backupSourceValidator{access: access}),
		PathValidatePopulatedPVCs: admission.WithValidator[*corev1.PersistentVolumeClaim](scheme, populatedPVCValidator{live: live, backups: backups}),
	}
}
