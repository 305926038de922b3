package webhook

import (
	"context"
	"errors"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

var (
	volumeSnapshotGK        = schema.GroupKind{Group: snapv1.GroupName, Kind: "VolumeSnapshot"}
	persistentVolumeClaimGK = schema.GroupKind{Kind: "PersistentVolumeClaim"}
)

// backupRequest is a parsed, validated bare backup reference with its options.
type backupRequest struct {
	Ref            restore.Reference
	Handle         string // canonical bak:// handle
	DeletionPolicy snapv1.DeletionPolicy
	Warnings       []string
}

// parseBackupRequest reads the snaprestore.io annotations of an object. It is pure: the
// errors carry the annotation's field path, the bad value and the expected form.
func parseBackupRequest(annotations map[string]string) (backupRequest, field.ErrorList) {
	var (
		br   backupRequest
		errs field.ErrorList
	)
	ref, ferr := parseBackupAnnotation(annotations[AnnotationBackup])
	if ferr != nil {
		errs = append(errs, ferr)
	} else {
		br.Ref, br.Handle = ref, ref.Handle()
		if ref.Legacy {
			br.Warnings = append(br.Warnings, fmt.Sprintf("%s: bs:// is deprecated; write %s", annotationPath(AnnotationBackup), br.Handle))
		}
	}
	switch p := annotations[AnnotationDeletionPolicy]; p {
	case "", string(snapv1.VolumeSnapshotContentRetain):
		br.DeletionPolicy = snapv1.VolumeSnapshotContentRetain
	case string(snapv1.VolumeSnapshotContentDelete):
		br.DeletionPolicy = snapv1.VolumeSnapshotContentDelete
	default:
		errs = append(errs, field.NotSupported(annotationPath(AnnotationDeletionPolicy), p,
			[]string{string(snapv1.VolumeSnapshotContentRetain), string(snapv1.VolumeSnapshotContentDelete)}))
	}
	return br, errs
}

// snapshotMutation creates the VolumeSnapshotContent a VolumeSnapshot annotated with a bare
// backup reference needs and points the snapshot at it.
type snapshotMutation struct {
	store         apiObjects
	defaultDriver string
	canonical     func(string) string
	backups       Backups // nil: no backupstore, no pre-flight
}

var _ mutation[*snapv1.VolumeSnapshot] = (*snapshotMutation)(nil)

func (m *snapshotMutation) mutate(ctx context.Context, req admission.Request, snap, old *snapv1.VolumeSnapshot) (admission.Warnings, error) {
	if _, ok := snap.Annotations[AnnotationBackup]; !ok {
		return nil, nil
	}
	src := &snap.Spec.Source
	if old != nil {
		// The source is immutable and was set at creation. A re-apply that no longer carries
		// the field the webhook set (server-side apply, replace) gets it back unchanged.
		if src.VolumeSnapshotContentName == nil && src.PersistentVolumeClaimName == nil {
			src.VolumeSnapshotContentName = old.Spec.Source.VolumeSnapshotContentName
		}
		return nil, nil
	}
	br, errs := m.admit(ctx, snap)
	if len(errs) > 0 {
		return br.Warnings, apierrors.NewInvalid(volumeSnapshotGK, snap.Name, errs)
	}
	driver, ferr := m.classDriver(ctx, snap.Spec.VolumeSnapshotClassName)
	if ferr != nil {
		return br.Warnings, apierrors.NewInvalid(volumeSnapshotGK, snap.Name, field.ErrorList{ferr})
	}
	namespace := firstNonEmpty(snap.Namespace, req.Namespace)
	cr := contentRequest{
		SnapshotNamespace: namespace,
		SnapshotName:      snap.Name,
		Handle:            br.Handle,
		Driver:            driver,
		Class:             snap.Spec.VolumeSnapshotClassName,
		DeletionPolicy:    br.DeletionPolicy,
	}
	namePath := annotationPath(AnnotationBackup)
	if src.VolumeSnapshotContentName != nil {
		cr.Name, namePath = *src.VolumeSnapshotContentName, field.NewPath("spec", "source", "volumeSnapshotContentName")
	} else {
		cr.Name = contentName(namespace, snap.Name, br.Handle)
	}
	if err := ensureContent(ctx, m.store, cr, m.canonical, dryRun(req), sourceSnapshot); err != nil {
		var conflict conflictError
		if errors.As(err, &conflict) {
			return br.Warnings, apierrors.NewInvalid(volumeSnapshotGK, snap.Name, field.ErrorList{field.Forbidden(namePath, string(conflict))})
		}
		return br.Warnings, err
	}
	src.VolumeSnapshotContentName = &cr.Name
	return br.Warnings, nil
}

// admit parses the annotations, rejects combinations that cannot restore a backup and runs
// the backup pre-flight.
func (m *snapshotMutation) admit(ctx context.Context, snap *snapv1.VolumeSnapshot) (backupRequest, field.ErrorList) {
	br, errs := parseBackupRequest(snap.Annotations)
	if snap.Spec.Source.PersistentVolumeClaimName != nil {
		errs = append(errs, field.Forbidden(annotationPath(AnnotationBackup),
			"must not be set together with spec.source.persistentVolumeClaimName: a snapshot either takes a new snapshot of a PVC or restores a backup"))
	}
	if snap.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "a VolumeSnapshot restoring a backup needs a fixed name (generateName is not supported)"))
	}
	if len(errs) == 0 {
		perrs, pwarns := checkBackup(ctx, m.backups, annotationPath(AnnotationBackup), snap.Annotations[AnnotationBackup], br.Ref)
		errs, br.Warnings = append(errs, perrs...), append(br.Warnings, pwarns...)
	}
	return br, errs
}

// classDriver returns the driver of the named VolumeSnapshotClass, or the default driver
// when no class is named.
func (m *snapshotMutation) classDriver(ctx context.Context, class *string) (string, *field.Error) {
	if class == nil || *class == "" {
		return m.defaultDriver, nil
	}
	var c snapv1.VolumeSnapshotClass
	p := field.NewPath("spec", "volumeSnapshotClassName")
	if err := m.store.get(ctx, types.NamespacedName{Name: *class}, &c); err != nil {
		if apierrors.IsNotFound(err) {
			return "", field.NotFound(p, *class)
		}
		return "", field.InternalError(p, fmt.Errorf("read VolumeSnapshotClass %q: %w", *class, err))
	}
	return c.Driver, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
