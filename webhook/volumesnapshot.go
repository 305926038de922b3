package webhook

import (
	"context"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// The CEL rules of external-snapshotter's VolumeSnapshot CRD, in its words. The webhook
// repeats them (house style 7) for clusters whose CRDs lack CEL and for snaprestore validate.
const (
	msgSnapshotExactlyOne = "exactly one of volumeSnapshotContentName and persistentVolumeClaimName must be set"
	msgSnapshotEmptyClass = "volumeSnapshotClassName must not be the empty string when set"
	fieldPersistentVolume = "persistentVolumeClaimName"
	fieldSnapshotContent  = "volumeSnapshotContentName"
)

// snapshotFacts are what the snapshot rule knows about other objects.
type snapshotFacts struct {
	// content is the VolumeSnapshotContent named by spec.source.volumeSnapshotContentName,
	// when contentPresence is Found.
	content         *snapv1.VolumeSnapshotContent
	contentPresence Presence
	// dryRunBackup: the request is a dry run and the snapshot carries snaprestore.io/backup,
	// so the mutating webhook pointed it at a content it did not create (sideEffects
	// NoneOnDryRun).
	dryRunBackup bool
}

// snapshot is the VolumeSnapshot rule: the CRD's per-object rules and, when they pass,
// the binding with a pre-provisioned content (looked up only then).
func (r *Rules) snapshot(ctx context.Context, snap, old *snapv1.VolumeSnapshot) (field.ErrorList, admission.Warnings) {
	if errs := validateSnapshotSpec(snap, old); len(errs) > 0 {
		return errs, nil
	}
	name := snap.Spec.Source.VolumeSnapshotContentName
	if name == nil || *name == "" || snapshotContentKept(snap, old) {
		return nil, nil
	}
	var f snapshotFacts
	f.dryRunBackup = requestDryRun(ctx) && hasBackupAnnotation(snap)
	f.content, f.contentPresence = r.objects.Content(ctx, *name)
	return validateSnapshotBinding(snap, f)
}

// snapshotContentKept: an UPDATE that keeps the content name is not judged again (ratchet);
// the content is by then bound to this snapshot, or the snapshot was admitted before.
func snapshotContentKept(snap, old *snapv1.VolumeSnapshot) bool {
	return old != nil && sameString(snap.Spec.Source.VolumeSnapshotContentName, old.Spec.Source.VolumeSnapshotContentName)
}

func validateSnapshotSpec(snap, old *snapv1.VolumeSnapshot) field.ErrorList {
	src := field.NewPath("spec", "source")
	s := snap.Spec.Source
	var errs field.ErrorList
	if old != nil {
		errs = append(errs, checkTransition(src, fieldPersistentVolume, s.PersistentVolumeClaimName, old.Spec.Source.PersistentVolumeClaimName)...)
		errs = append(errs, checkTransition(src, fieldSnapshotContent, s.VolumeSnapshotContentName, old.Spec.Source.VolumeSnapshotContentName)...)
	}
	unchanged := old != nil && sameString(s.PersistentVolumeClaimName, old.Spec.Source.PersistentVolumeClaimName) &&
		sameString(s.VolumeSnapshotContentName, old.Spec.Source.VolumeSnapshotContentName)
	if !exactlyOne(s.PersistentVolumeClaimName, s.VolumeSnapshotContentName) && !unchanged {
		errs = append(errs, celInvalid(src, nil, msgSnapshotExactlyOne))
	}
	if c := snap.Spec.VolumeSnapshotClassName; c != nil && *c == "" && (old == nil || !sameString(c, old.Spec.VolumeSnapshotClassName)) {
		errs = append(errs, celInvalid(field.NewPath("spec", "volumeSnapshotClassName"), c, msgSnapshotEmptyClass))
	}
	return errs
}

// validateSnapshotBinding is the "never binds" trap: a pre-provisioned content binds only
// to the snapshot its spec.volumeSnapshotRef names, and never to a second one.
func validateSnapshotBinding(snap *snapv1.VolumeSnapshot, f snapshotFacts) (field.ErrorList, admission.Warnings) {
	p := field.NewPath("spec", "source", fieldSnapshotContent)
	name := *snap.Spec.Source.VolumeSnapshotContentName
	switch f.contentPresence {
	case Missing:
		if f.dryRunBackup {
			return nil, nil // the real request creates it
		}
		return nil, admission.Warnings{fmt.Sprintf("%s: VolumeSnapshotContent %q does not exist yet; the snapshot stays unbound until it is created with spec.volumeSnapshotRef %s/%s",
			p, name, snap.Namespace, snap.Name)}
	case Unknown:
		return nil, admission.Warnings{fmt.Sprintf("%s: VolumeSnapshotContent %q could not be looked up; its spec.volumeSnapshotRef must be %s/%s for the snapshot to bind",
			p, name, snap.Namespace, snap.Name)}
	}
	ref := f.content.Spec.VolumeSnapshotRef
	if ref.Namespace != snap.Namespace || ref.Name != snap.Name {
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf(
			"VolumeSnapshotContent %q has spec.volumeSnapshotRef %s/%s, but this VolumeSnapshot is %s/%s, so the two never bind; expected a content whose spec.volumeSnapshotRef is namespace %q, name %q",
			name, ref.Namespace, ref.Name, snap.Namespace, snap.Name, snap.Namespace, snap.Name))}, nil
	}
	if ref.UID != "" && ref.UID != snap.UID {
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf(
			"VolumeSnapshotContent %q is bound to another VolumeSnapshot %s/%s (spec.volumeSnapshotRef.uid %q), so it never binds to this one; expected a content that is not bound yet, e.g. a new VolumeSnapshotContent with the same snapshotHandle",
			name, ref.Namespace, ref.Name, ref.UID))}, nil
	}
	return nil, nil
}
