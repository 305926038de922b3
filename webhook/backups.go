package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// Preflight defaults.
const (
	// DefaultPreflightTTL is how long a backupstore answer is reused.
	DefaultPreflightTTL = 30 * time.Second
	// preflightTimeout bounds one lookup: the webhook's own timeout is 5 s.
	preflightTimeout = 2 * time.Second
	// preflightCacheMax bounds the cache; it is cleared when full.
	preflightCacheMax = 1024
)

// Backups is the webhook's one optional dependency on a backupstore (#5 pre-flight, the
// sizes of the PVC rules): nil when --backupstore is not set. *Preflight implements it.
type Backups interface {
	// Facts says what the configured backupstore knows about the referenced backup.
	Facts(ctx context.Context, ref restore.Reference) BackupFacts
}

// BackupFacts is what the backupstore says about one backup: plain data, judged by
// ValidateBackupFacts and BackupFacts.Size.
type BackupFacts struct {
	// OtherStore is the backupstore the reference names when that is not the
	// configured one (Configured); nothing else is known.
	OtherStore, Configured string
	// Unreachable is set when the store could not be read; nothing else is known.
	Unreachable error
	// Problem is set when the backup cannot be restored: volume or backup missing,
	// in progress, or unreadable cfg. Empty when the backup is restorable.
	Problem string
	// VolumeSize is the restore size in bytes, when the backup is restorable.
	VolumeSize int64
	// Available lists the volume's completed backups, newest first (at most 5), when
	// the backup is missing.
	Available []string
	// Closest is the completed backup whose name is a likely typo of the missing one
	// (restore.Suggest), or "".
	Closest string
	// BackingImage is the Longhorn backing image the backup's volume was created from
	// (volume.cfg BackingImageName), or "": the backup holds only what the volume
	// wrote on top of it.
	BackingImage string
	// BackingImageInStore: the completed backup of BackingImage is in the same
	// backupstore, so the restore lays the base down from it.
	BackingImageInStore bool
}

// Size is the restore size of a restorable backup; known is false otherwise.
func (f BackupFacts) Size() (size int64, known bool) {
	known = f.OtherStore == "" && f.Unreachable == nil && f.Problem == "" && f.VolumeSize > 0
	return f.VolumeSize, known
}

// Preflight answers admission-time questions about backups in the configured
// backupstore, caching answers for TTL. Safe for concurrent use.
type Preflight struct {
	store *restore.Store
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]preflightEntry
}

var _ Backups = (*Preflight)(nil)

type preflightEntry struct {
	facts   BackupFacts
	expires time.Time
}

// NewPreflight checks backups in store; ttl 0 means DefaultPreflightTTL.
func NewPreflight(store *restore.Store, ttl time.Duration) *Preflight {
	if ttl <= 0 {
		ttl = DefaultPreflightTTL
	}
	return &Preflight{store: store, ttl: ttl, now: time.Now, cache: map[string]preflightEntry{}}
}

// Facts implements Backups: a reference naming another backupstore (compared in
// canonical form, restore.Store.Holds) is not looked up; other answers are cached.
func (p *Preflight) Facts(ctx context.Context, ref restore.Reference) BackupFacts {
	if !p.store.Holds(ref) {
		return BackupFacts{OtherStore: ref.Backupstore, Configured: p.store.URL}
	}
	key := ref.Volume + "/" + ref.Backup
	now := p.now()
	p.mu.Lock()
	e, ok := p.cache[key]
	p.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.facts
	}
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	f := lookupBackup(ctx, p.store.Store, ref)
	p.mu.Lock()
	if len(p.cache) >= preflightCacheMax {
		clear(p.cache)
	}
	p.cache[key] = preflightEntry{facts: f, expires: now.Add(p.ttl)}
	p.mu.Unlock()
	return f
}

// lookupBackup turns restore.Resolve's answer into facts: its sentinel errors become
// problems, anything else means the store could not be read.
func lookupBackup(ctx context.Context, st *backupstore.Store, ref restore.Reference) BackupFacts {
	r, err := restore.Resolve(ctx, st, ref)
	var missing *restore.MissingBackupError
	switch {
	case err == nil:
		f := BackupFacts{VolumeSize: r.Volume.Size, BackingImage: r.Volume.BackingImageName}
		if f.BackingImage != "" {
			bi, err := st.BackingImage(ctx, f.BackingImage)
			f.BackingImageInStore = err == nil && !bi.InProgress()
		}
		return f
	case errors.Is(err, backupstore.ErrVolumeNotFound):
		return BackupFacts{Problem: fmt.Sprintf("volume %q has no backups in the backupstore", ref.Volume)}
	case errors.As(err, &missing):
		// The backup is known to be missing: a listing that fails (or outlasts the
		// budget) loses the hint, not the denial, and says so.
		f := BackupFacts{Problem: fmt.Sprintf("backup %q of volume %q does not exist in the backupstore", ref.Backup, ref.Volume),
			Available: missing.Available, Closest: missing.Closest}
		if missing.ListErr != nil && !restore.IsStoreContent(missing.ListErr) {
			f.Problem += fmt.Sprintf(" (its other backups could not be listed: %v)", missing.ListErr)
		}
		return f
	case errors.Is(err, backupstore.ErrInProgress):
		return BackupFacts{Problem: fmt.Sprintf("%s is still in progress; retry once the backup has completed", ref.Handle())}
	case restore.IsStoreContent(err):
		return BackupFacts{Problem: fmt.Sprintf("%s cannot be restored: %v", ref.Handle(), err)}
	}
	return BackupFacts{Unreachable: err}
}

// ValidateBackupFacts is the pre-flight rule for the backup reference value at path:
// deny a backup that cannot be restored, listing available ones; allow with a warning
// when the store could not be reached or the reference names another backupstore.
func ValidateBackupFacts(path *field.Path, value string, f BackupFacts) (field.ErrorList, admission.Warnings) {
	switch {
	case f.OtherStore != "":
		return nil, admission.Warnings{fmt.Sprintf("%s: names backupstore %s, not the configured %s, so the backup was not checked", path, f.OtherStore, f.Configured)}
	case f.Unreachable != nil:
		return nil, admission.Warnings{fmt.Sprintf("%s: the backupstore could not be reached, so %s was not checked (%v)", path, value, f.Unreachable)}
	case f.Problem == "" && f.BackingImage != "" && !f.BackingImageInStore:
		return nil, admission.Warnings{fmt.Sprintf("%s: %s is of a volume created from Longhorn backing image %q and holds only what the volume wrote on top of it; "+
			"the image has no completed backup in the backupstore (%s), so the restore needs it (in Longhorn, or as the file of snaprestore restore --backing-image)",
			path, value, f.BackingImage, backupstore.BackingImageConfigPath(f.BackingImage))}
	case f.Problem == "":
		return nil, nil
	}
	msg := f.Problem
	if hint := (restore.Suggestions{Closest: f.Closest, Available: f.Available}).String(); hint != "" {
		msg += "; " + hint
	}
	return field.ErrorList{field.Invalid(path, value, msg)}, nil
}

// checkBackup runs the pre-flight on a parsed reference written as value at path; nil
// backups (no backupstore configured) checks nothing.
func checkBackup(ctx context.Context, backups Backups, path *field.Path, value string, ref restore.Reference) (field.ErrorList, admission.Warnings) {
	if backups == nil {
		return nil, nil
	}
	return ValidateBackupFacts(path, value, backups.Facts(ctx, ref))
}
