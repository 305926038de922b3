package webhook

import (
	"errors"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// DefaultLonghornDriver is the CSI driver name of Longhorn.
const DefaultLonghornDriver = "driver.longhorn.io"

// ValidateOptions configures the validating rules (#2), in the webhook and in
// snaprestore validate.
type ValidateOptions struct {
	// LonghornDrivers are the CSI driver names whose snapshot handles must follow
	// Longhorn's grammar (--longhorn-driver). Default [driver.longhorn.io].
	LonghornDrivers []string
	// ProtectBackups denies deletionPolicy Delete on a VolumeSnapshotContent of a
	// pre-existing backup instead of warning (--protect-backups). Default false.
	ProtectBackups bool
	// Backups checks that a bak:// or bs:// handle names a completed backup; nil
	// checks nothing.
	Backups BackupChecker
	// Sizes tells a backup's volume size (the restore size of a bare-handle content
	// whose status is not filled yet); nil means unknown.
	Sizes BackupSizer
}

// SetDefaults fills unset fields with their documented defaults.
func (o *ValidateOptions) SetDefaults() {
	if len(o.LonghornDrivers) == 0 {
		o.LonghornDrivers = []string{DefaultLonghornDriver}
	}
}

// Validate reports an empty driver name.
func (o *ValidateOptions) Validate() error {
	if slices.Contains(o.LonghornDrivers, "") {
		return errors.New("--longhorn-driver must not be empty")
	}
	return nil
}

// ValidatingHandlers holds the handlers for the validate paths (see paths.go).
// Register them with &webhook.Admission{Handler: h.VolumeSnapshots} etc.
type ValidatingHandlers struct {
	VolumeSnapshots        admission.Handler // PathValidateVolumeSnapshots
	VolumeSnapshotContents admission.Handler // PathValidateVolumeSnapshotContents
	VolumeSnapshotClasses  admission.Handler // PathValidateVolumeSnapshotClasses
	PersistentVolumeClaims admission.Handler // PathValidatePVCs
}

// NewValidatingHandlers builds the handlers on mgr. Cross-object reads go through mgr's
// cache; only a miss is confirmed with mgr.GetAPIReader(). The scheme must know
// snapshot.storage.k8s.io/v1, core/v1 and storage/v1.
func NewValidatingHandlers(mgr manager.Manager, opts ValidateOptions) ValidatingHandlers {
	r := NewRules(newCachedObjects(mgr.GetClient(), mgr.GetAPIReader()), opts)
	return r.handlers()
}
