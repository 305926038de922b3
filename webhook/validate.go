package webhook

import (
	"context"
	"slices"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

var (
	volumeSnapshotContentGK = schema.GroupKind{Group: snapv1.GroupName, Kind: "VolumeSnapshotContent"}
	volumeSnapshotClassGK   = schema.GroupKind{Group: snapv1.GroupName, Kind: "VolumeSnapshotClass"}
)

// Rules are the validating rules of every kind. Each kind's method fetches the facts its
// rule needs from Objects (and the backup pre-flight) and hands them to a pure function;
// the webhook and snaprestore validate share them. Safe for concurrent use.
type Rules struct {
	objects Objects
	opts    HandlerOptions
}

// NewRules checks objects with facts from objects; opts are defaulted here.
func NewRules(objects Objects, opts HandlerOptions) *Rules {
	opts.SetDefaults()
	return &Rules{objects: objects, opts: opts}
}

// Validate checks obj as a CREATE (old nil) or an UPDATE from old. covered is false for
// kinds the rules do not know; they are allowed untouched.
func (r *Rules) Validate(ctx context.Context, obj, old runtime.Object) (errs field.ErrorList, warnings admission.Warnings, covered bool) {
	switch o := obj.(type) {
	case *snapv1.VolumeSnapshot:
		errs, warnings = r.snapshot(ctx, o, oldAs[*snapv1.VolumeSnapshot](old))
	case *snapv1.VolumeSnapshotContent:
		errs, warnings = r.content(ctx, o, oldAs[*snapv1.VolumeSnapshotContent](old))
	case *snapv1.VolumeSnapshotClass:
		errs, warnings = r.class(ctx, o, oldAs[*snapv1.VolumeSnapshotClass](old))
	case *corev1.PersistentVolumeClaim:
		errs, warnings = r.pvc(ctx, o, oldAs[*corev1.PersistentVolumeClaim](old))
	default:
		return nil, nil, false
	}
	return errs, warnings, true
}

// requestDryRun reports whether ctx carries the admission request (the webhook; snaprestore
// validate has none) and that request is a dry run.
func requestDryRun(ctx context.Context) bool {
	req, err := admission.RequestFromContext(ctx)
	return err == nil && dryRun(req)
}

// hasBackupAnnotation reports whether obj carries a bare backup reference, which the
// mutating webhook turns into objects it creates.
func hasBackupAnnotation(obj client.Object) bool {
	_, ok := obj.GetAnnotations()[AnnotationBackup]
	return ok
}

// oldAs is old as a T, or T's zero value (nil) when old is nil or of another type.
func oldAs[T runtime.Object](old runtime.Object) T {
	t, _ := old.(T)
	return t
}

// longhorn reports whether driver's handles follow Longhorn's grammar.
func (r *Rules) longhorn(driver string) bool {
	return slices.Contains(r.opts.LonghornDrivers, driver)
}

func (r *Rules) handlers() ValidatingHandlers {
	return ValidatingHandlers{
		VolumeSnapshots: newValidatingHandler(volumeSnapshotGK, r.snapshot,
			func() *snapv1.VolumeSnapshot { return &snapv1.VolumeSnapshot{} }),
		VolumeSnapshotContents: newValidatingHandler(volumeSnapshotContentGK, r.content,
			func() *snapv1.VolumeSnapshotContent { return &snapv1.VolumeSnapshotContent{} }),
		VolumeSnapshotClasses: newValidatingHandler(volumeSnapshotClassGK, r.class,
			func() *snapv1.VolumeSnapshotClass { return &snapv1.VolumeSnapshotClass{} }),
		PersistentVolumeClaims: newValidatingHandler(persistentVolumeClaimGK, r.pvc,
			func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} }),
	}
}
