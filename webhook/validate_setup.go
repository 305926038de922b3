package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// ValidateOptions configures the validating handlers (#2).
type ValidateOptions struct {
	// LonghornDrivers are the CSI driver names whose snapshot handles must follow
	// Longhorn's grammar (--longhorn-driver). Default [driver.longhorn.io].
	LonghornDrivers []string
	// ProtectBackups denies deletionPolicy Delete on a VolumeSnapshotContent of a
	// pre-existing backup instead of warning (--protect-backups).
	ProtectBackups bool
	// Backups checks that a bak:// or bs:// handle names a completed backup; nil
	// checks nothing.
	Backups BackupChecker
	// Sizes tells a backup's volume size (the restore size of a bare-handle content
	// whose status is not filled yet); nil means unknown.
	Sizes BackupSizer
}

// ValidatingHandlers holds the handlers for the validate paths (see paths.go).
type ValidatingHandlers struct {
	VolumeSnapshots        admission.Handler // PathValidateVolumeSnapshots
	VolumeSnapshotContents admission.Handler // PathValidateVolumeSnapshotContents
	VolumeSnapshotClasses  admission.Handler // PathValidateVolumeSnapshotClasses
	PersistentVolumeClaims admission.Handler // PathValidatePVCs
}

// NewValidatingHandlers builds the handlers on mgr; cross-object reads go through
// mgr's cache.
//
// TODO(#2): placeholder that allows everything, replaced by the rules.
func NewValidatingHandlers(mgr manager.Manager, opts ValidateOptions) ValidatingHandlers {
	allow := admission.HandlerFunc(func(_ context.Context, _ admission.Request) admission.Response {
		return admission.Allowed("")
	})
	return ValidatingHandlers{allow, allow, allow, allow}
}
