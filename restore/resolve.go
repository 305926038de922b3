package restore

import (
	"context"
	"errors"
	"fmt"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// availableListed is how many backups a "backup not found" error lists.
const availableListed = 5

// Resolved is a backup checked for restoring: its volume exists, its cfg parses, it has
// completed and its blocks fit the volume.
type Resolved struct {
	Ref    Reference
	Volume *backupstore.Volume
	Backup *backupstore.Backup
}

// MissingBackupError is Resolve's answer for a backup the volume does not have: the
// store's error (wrapping backupstore.ErrBackupNotFound) and the volume's completed
// backups, newest first, at most 5. ListErr is set when those could not be listed.
type MissingBackupError struct {
	Err       error
	Available []string
	// Closest is the completed backup whose name is a likely typo of the missing
	// one (Suggest), or "".
	Closest string
	ListErr error
}

func (e *MissingBackupError) Error() string {
	hint := Suggestions{Closest: e.Closest, Available: e.Available}.String()
	if hint == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v; %s", e.Err, hint)
}

func (e *MissingBackupError) Unwrap() error { return e.Err }

// Resolve is the one answer to "can ref be restored from st?", shared by the engine
// (Restore, Verify) and the webhook's admission pre-flight. Its errors wrap sentinels:
// backupstore.ErrVolumeNotFound; a *MissingBackupError (backupstore.ErrBackupNotFound);
// backupstore.ErrInProgress; a *backupstore.ConfigError (ErrInvalidConfig) for a backup
// that does not fit its volume; ErrInvalidName, ErrInvalidConfig and
// ErrUnsupportedCompression from reading the cfgs (see IsStoreContent); anything else is
// a failure to reach the store. ref.Backupstore is not looked at: the caller picked st.
func Resolve(ctx context.Context, st *backupstore.Store, ref Reference) (*Resolved, error) {
	vol, err := st.Volume(ctx, ref.Volume)
	if err != nil {
		return nil, err
	}
	b, err := st.Backup(ctx, vol, ref.Backup)
	if errors.Is(err, backupstore.ErrBackupNotFound) {
		// vol is reused; one listing orders and matches, and only the cfgs of the
		// suggestions are read (issue #13: 5,000 backups within the webhook's 2 s).
		s, lerr := Suggest(ctx, st, vol, ref.Backup, availableListed)
		return nil, &MissingBackupError{Err: err, Available: s.Available, Closest: s.Closest, ListErr: lerr}
	}
	if err != nil {
		return nil, err
	}
	if b.InProgress() {
		return nil, fmt.Errorf("%s: %w (its cfg has no CreatedTime yet); wait for it to complete", ref.Handle(), backupstore.ErrInProgress)
	}
	if err := b.CheckFits(vol.Size); err != nil {
		return nil, &backupstore.ConfigError{Path: backupstore.BackupConfigPath(ref.Volume, ref.Backup), Err: err}
	}
	return &Resolved{Ref: Reference{Volume: ref.Volume, Backup: ref.Backup}, Volume: vol, Backup: b}, nil
}

// IsStoreContent reports whether err is about what the store holds (a bad name or cfg,
// an unknown compression), as opposed to a failure to reach it.
func IsStoreContent(err error) bool {
	return errors.Is(err, backupstore.ErrInvalidConfig) || errors.Is(err, backupstore.ErrInvalidName) ||
		errors.Is(err, backupstore.ErrUnsupportedCompression) || errors.Is(err, backupstore.ErrUnsupportedBackup)
}
