package webhook

import (
	"context"
	"errors"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

// The CEL rules of external-snapshotter's VolumeSnapshotContent CRD, in its words.
const (
	msgContentExactlyOne = "exactly one of volumeHandle and snapshotHandle must be set"
	msgContentRef        = "both spec.volumeSnapshotRef.name and spec.volumeSnapshotRef.namespace must be set"
	fieldVolumeHandle    = "volumeHandle"
	fieldSnapshotHandle  = "snapshotHandle"
	fieldSourceMode      = "sourceVolumeMode"
)

// contentPolicy is the configuration the content rule needs.
type contentPolicy struct {
	longhorn       bool // the content's driver follows Longhorn's handle grammar
	protectBackups bool // deny, not warn, deletionPolicy Delete on an existing backup
}

// contentFacts are what the content rule knows beyond the object.
type contentFacts struct {
	// class is spec.volumeSnapshotClassName's class when classPresence is Found; not looked
	// up (Unknown) when no class is named or an UPDATE kept it.
	class         *snapv1.VolumeSnapshotClass
	classPresence Presence
	// handle is spec.source.snapshotHandle of a Longhorn driver's content, parsed once by
	// the adapter (handleErr when it does not parse; parsed false: not a Longhorn
	// content or no snapshotHandle).
	handle    restore.Handle
	handleErr error
	parsed    bool
	// backup is the backup pre-flight's answer for a new bak:// or bs:// handle (issue
	// #5, "Hand-off from the webhook"); checked false when there was nothing to ask.
	backup  BackupFacts
	checked bool
}

var snapshotHandlePath = field.NewPath("spec", "source", fieldSnapshotHandle)

func (r *Rules) content(ctx context.Context, c, old *snapv1.VolumeSnapshotContent) (field.ErrorList, admission.Warnings) {
	pol := contentPolicy{longhorn: r.longhorn(c.Spec.Driver), protectBackups: r.opts.ProtectBackups}
	var f contentFacts
	if name, ok := contentClassToCheck(c, old); ok {
		f.class, f.classPresence = r.objects.Class(ctx, name)
	}
	if hs := c.Spec.Source.SnapshotHandle; pol.longhorn && hs != nil {
		f.handle, f.handleErr = restore.ParseHandle(*hs)
		f.parsed = true
	}
	if f.parsed && f.handleErr == nil && f.handle.Kind == restore.KindBackup && r.opts.Backups != nil && newHandle(c, old) {
		f.backup, f.checked = r.opts.Backups.Facts(ctx, restore.Reference{Volume: f.handle.Volume, Backup: f.handle.Name, Legacy: f.handle.Legacy}), true
	}
	return validateContent(c, old, pol, f)
}

// contentClassToCheck names the class the content rule judges: a named class on CREATE or
// a changed one on UPDATE.
func contentClassToCheck(c, old *snapv1.VolumeSnapshotContent) (string, bool) {
	name := c.Spec.VolumeSnapshotClassName
	if name == nil || *name == "" || (old != nil && sameString(name, old.Spec.VolumeSnapshotClassName)) {
		return "", false
	}
	return *name, true
}

// newHandle: the snapshotHandle is new on CREATE or changed by an UPDATE (which the CRD
// forbids); an unchanged handle is not judged again.
func newHandle(c, old *snapv1.VolumeSnapshotContent) bool {
	return old == nil || !sameString(c.Spec.Source.SnapshotHandle, old.Spec.Source.SnapshotHandle)
}

// validateContent is the VolumeSnapshotContent rule.
func validateContent(c, old *snapv1.VolumeSnapshotContent, pol contentPolicy, f contentFacts) (field.ErrorList, admission.Warnings) {
	errs := validateContentSpec(c, old)
	var warnings admission.Warnings
	if f.parsed && newHandle(c, old) {
		e, w := validateLonghornHandle(*c.Spec.Source.SnapshotHandle, f.handle, f.handleErr)
		errs, warnings = append(errs, e...), append(warnings, w...)
	}
	if f.parsed && f.handleErr == nil {
		e, w := validateBackupDeletion(c, old, f.handle, pol.protectBackups)
		errs, warnings = append(errs, e...), append(warnings, w...)
	}
	e, w := validateContentClass(c, old, f)
	errs, warnings = append(errs, e...), append(warnings, w...)
	if f.checked {
		e, w := ValidateBackupFacts(snapshotHandlePath, *c.Spec.Source.SnapshotHandle, f.backup)
		errs, warnings = append(errs, e...), append(warnings, w...)
	}
	return errs, warnings
}

func validateContentSpec(c, old *snapv1.VolumeSnapshotContent) field.ErrorList {
	spec := field.NewPath("spec")
	src := spec.Child("source")
	s := c.Spec.Source
	var errs field.ErrorList
	if old != nil {
		errs = append(errs, checkTransition(src, fieldVolumeHandle, s.VolumeHandle, old.Spec.Source.VolumeHandle)...)
		errs = append(errs, checkTransition(src, fieldSnapshotHandle, s.SnapshotHandle, old.Spec.Source.SnapshotHandle)...)
		errs = append(errs, checkTransition(spec, fieldSourceMode, (*string)(c.Spec.SourceVolumeMode), (*string)(old.Spec.SourceVolumeMode))...)
	}
	unchanged := old != nil && sameString(s.VolumeHandle, old.Spec.Source.VolumeHandle) && sameString(s.SnapshotHandle, old.Spec.Source.SnapshotHandle)
	if !exactlyOne(s.VolumeHandle, s.SnapshotHandle) && !unchanged {
		errs = append(errs, celInvalid(src, nil, msgContentExactlyOne))
	}
	ref := c.Spec.VolumeSnapshotRef
	refKept := old != nil && old.Spec.VolumeSnapshotRef.Name == ref.Name && old.Spec.VolumeSnapshotRef.Namespace == ref.Namespace
	if (ref.Name == "" || ref.Namespace == "") && !refKept {
		errs = append(errs, celInvalid(spec.Child("volumeSnapshotRef"), nil, msgContentRef))
	}
	return errs
}

// validateLonghornHandle judges a Longhorn snapshotHandle as parsed (h, or err); the
// legacy bs:// spelling is allowed with a warning naming the bak:// equivalent.
func validateLonghornHandle(handle string, h restore.Handle, err error) (field.ErrorList, admission.Warnings) {
	if err != nil {
		var he *restore.HandleError
		if errors.As(err, &he) {
			return field.ErrorList{field.Invalid(snapshotHandlePath, handle, he.Problem+"; expected "+he.Expected)}, nil
		}
		return field.ErrorList{field.Invalid(snapshotHandlePath, handle, err.Error())}, nil
	}
	if h.Legacy {
		return nil, admission.Warnings{fmt.Sprintf("%s: bs:// is deprecated; write %s", snapshotHandlePath, h)}
	}
	return nil, nil
}

// validateBackupDeletion: with deletionPolicy Delete, deleting the VolumeSnapshot makes
// Longhorn's CSI driver delete the backup a pre-provisioned bak:// content names. Judged
// when the policy or the handle is new.
func validateBackupDeletion(c, old *snapv1.VolumeSnapshotContent, h restore.Handle, protect bool) (field.ErrorList, admission.Warnings) {
	if c.Spec.DeletionPolicy != snapv1.VolumeSnapshotContentDelete || h.Kind != restore.KindBackup {
		return nil, nil
	}
	if old != nil && old.Spec.DeletionPolicy == snapv1.VolumeSnapshotContentDelete && !newHandle(c, old) {
		return nil, nil
	}
	p := field.NewPath("spec", "deletionPolicy")
	if protect {
		return field.ErrorList{field.Invalid(p, string(c.Spec.DeletionPolicy), fmt.Sprintf(
			"deleting the VolumeSnapshot would delete backup %s from the backupstore, and backups are protected (--protect-backups); expected Retain", h))}, nil
	}
	return nil, admission.Warnings{fmt.Sprintf("%s: Delete deletes backup %s from the backupstore when the VolumeSnapshot is deleted; set Retain to keep the backup", p, h)}
}

// validateContentClass: a named VolumeSnapshotClass must exist and be of the content's driver.
func validateContentClass(c, old *snapv1.VolumeSnapshotContent, f contentFacts) (field.ErrorList, admission.Warnings) {
	name, ok := contentClassToCheck(c, old)
	if !ok {
		return nil, nil
	}
	p := field.NewPath("spec", "volumeSnapshotClassName")
	switch f.classPresence {
	case Missing:
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf(
			"VolumeSnapshotClass %q does not exist; expected the name of a VolumeSnapshotClass of driver %q", name, c.Spec.Driver))}, nil
	case Unknown:
		return nil, admission.Warnings{fmt.Sprintf("%s: VolumeSnapshotClass %q could not be looked up; it must exist and be of driver %q", p, name, c.Spec.Driver)}
	}
	if f.class.Driver != c.Spec.Driver {
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf(
			"VolumeSnapshotClass %q is of driver %q, but this content's spec.driver is %q; expected a class of driver %q", name, f.class.Driver, c.Spec.Driver, c.Spec.Driver))}, nil
	}
	return nil, nil
}
