package webhook

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

// EngineOptions wire the restore engine into the webhook process (#5): the
// --backupstore and --restore-dir flags of `snaprestore webhook`.
type EngineOptions struct {
	// Backupstore is the backupstore URL; empty disables pre-flight checks,
	// backup sizes, verification and materialization.
	Backupstore string
	// RestoreDir materializes restore PVCs' images (see VerifyOptions).
	RestoreDir string
	// Getenv reads the S3 settings (os.Getenv in the command).
	Getenv func(string) string
}

// SetupEngine opens the backupstore and adds the background verifier to mgr.
// The returned Preflight (nil when no backupstore is configured) serves
// admission pre-flight checks (CheckHandle) and is the BackupSizer of
// MutateOptions.Sizes; a nil *Preflight checks nothing.
func SetupEngine(mgr manager.Manager, o EngineOptions) (*Preflight, error) {
	if o.Backupstore == "" {
		if o.RestoreDir != "" {
			return nil, fmt.Errorf("--restore-dir needs --backupstore")
		}
		return nil, nil
	}
	st, err := restore.OpenStore(o.Backupstore, restore.StoreOptions{Getenv: o.Getenv})
	if err != nil {
		return nil, fmt.Errorf("--backupstore: %w", err)
	}
	if err := AddVerifier(mgr, VerifyOptions{Store: st, RestoreDir: o.RestoreDir}); err != nil {
		return nil, err
	}
	return NewPreflight(st, 0), nil
}

// CheckHandle is the pre-flight check of a snapshotHandle (or bare backup
// reference) at path: a bak:// or bs:// handle must name a completed backup of
// the configured backupstore. Other handles, a nil Preflight, and references
// that name another backupstore are not checked; a handle that does not parse
// is left to the grammar rule.
func (p *Preflight) CheckHandle(ctx context.Context, path *field.Path, handle string) (field.ErrorList, admission.Warnings) {
	if p == nil {
		return nil, nil
	}
	ref, err := restore.ParseReference(handle)
	if err != nil || (ref.Backupstore != "" && ref.Backupstore != p.store.URL) {
		return nil, nil
	}
	if h, herr := restore.ParseHandle(handle); herr == nil && h.Kind != restore.KindBackup {
		return nil, nil
	}
	return ValidateBackupFacts(path, handle, p.Facts(ctx, ref.Volume, ref.Backup))
}

// Sizes returns p as a BackupSizer, or nil when p is nil (so MutateOptions
// sees "sizes unknown" rather than a typed nil).
func (p *Preflight) Sizes() BackupSizer {
	if p == nil {
		return nil
	}
	return p
}
