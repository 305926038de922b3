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
	// preflightAvailable is how many backups a denial lists.
	preflightAvailable = 5
	// preflightCacheMax bounds the cache; it is cleared when full.
	preflightCacheMax = 1024
)

// BackupFacts is what the backupstore says about one backup (issue #5 pre-flight).
type BackupFacts struct {
	// Unreachable is set when the store could not be read; nothing else is known.
	Unreachable error
	// Problem is set when the backup cannot be restored: volume or backup missing,
	// in progress, or unreadable cfg. Empty when the backup is restorable.
	Problem string
	// VolumeSize is the restore size in bytes, when the backup was found.
	VolumeSize int64
	// Available lists the volume's completed backups, newest first (at most 5).
	Available []string
	// Closest is the completed backup whose name is a likely typo of the missing
	// one (restore.Suggest), or "".
	Closest string
	// BackingImage is the Longhorn backing image the backup's volume was created
	// from (volume.cfg BackingImageName), or "": the backup holds only what the
	// volume wrote on top of it.
	BackingImage string
}

// Preflight answers admission-time questions about backups in the configured
// backupstore, caching answers for TTL. It implements BackupSizer. Safe for
// concurrent use.
type Preflight struct {
	store *restore.Store
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]preflightEntry
}

var _ BackupSizer = (*Preflight)(nil)

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

// Facts looks a backup up (cached).
func (p *Preflight) Facts(ctx context.Context, volume, backup string) BackupFacts {
	key := volume + "/" + backup
	now := p.now()
	p.mu.Lock()
	e, ok := p.cache[key]
	p.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.facts
	}
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	f := lookupBackup(ctx, p.store.Store, volume, backup)
	p.mu.Lock()
	if len(p.cache) >= preflightCacheMax {
		clear(p.cache)
	}
	p.cache[key] = preflightEntry{facts: f, expires: now.Add(p.ttl)}
	p.mu.Unlock()
	return f
}

// BackupSize implements BackupSizer: the volume size of a restorable backup of
// the configured backupstore. A reference naming another backupstore is unknown.
func (p *Preflight) BackupSize(ctx context.Context, ref restore.Reference) (int64, bool, error) {
	if ref.Backupstore != "" && ref.Backupstore != p.store.URL {
		return 0, false, nil
	}
	f := p.Facts(ctx, ref.Volume, ref.Backup)
	if f.Unreachable != nil {
		return 0, false, f.Unreachable
	}
	return f.VolumeSize, f.Problem == "" && f.VolumeSize > 0, nil
}

// lookupBackup reads a backup's volume.cfg and cfg, and on a miss the list of
// the volume's backups.
func lookupBackup(ctx context.Context, st *backupstore.Store, volume, backup string) BackupFacts {
	handle := "bak://" + volume + "/" + backup
	vol, err := st.Volume(ctx, volume)
	switch {
	case errors.Is(err, backupstore.ErrVolumeNotFound):
		return BackupFacts{Problem: fmt.Sprintf("volume %q has no backups in the backupstore", volume)}
	case isStoreContent(err):
		return BackupFacts{Problem: fmt.Sprintf("%s cannot be restored: %v", handle, err)}
	case err != nil:
		return BackupFacts{Unreachable: err}
	}
	b, err := st.Backup(ctx, vol, backup)
	switch {
	case errors.Is(err, backupstore.ErrBackupNotFound):
		f := BackupFacts{Problem: fmt.Sprintf("backup %q of volume %q does not exist in the backupstore", backup, volume)}
		// vol is reused; one listing orders and matches, and only the cfgs of
		// the suggestions are read (issue #13: 5,000 backups in a 2 s budget).
		// The backup is known to be missing: a listing that fails (or outlasts
		// the budget) loses the hint, not the denial, and says so.
		s, lerr := restore.Suggest(ctx, st, vol, backup, preflightAvailable)
		if lerr != nil && !isStoreContent(lerr) {
			f.Problem += fmt.Sprintf(" (its other backups could not be listed: %v)", lerr)
		}
		f.Available, f.Closest = s.Available, s.Closest
		return f
	case isStoreContent(err):
		return BackupFacts{Problem: fmt.Sprintf("%s cannot be restored: %v", handle, err)}
	case err != nil:
		return BackupFacts{Unreachable: err}
	}
	if b.InProgress() {
		return BackupFacts{Problem: fmt.Sprintf("%s is still in progress; retry once the backup has completed", handle)}
	}
	if err := b.CheckFits(vol.Size); err != nil {
		return BackupFacts{Problem: fmt.Sprintf("%s cannot be restored: %v", handle, err)}
	}
	return BackupFacts{VolumeSize: vol.Size, BackingImage: vol.BackingImageName}
}

// isStoreContent reports whether err is about what the store holds (a bad
// name or cfg), as opposed to reaching it.
func isStoreContent(err error) bool {
	return errors.Is(err, backupstore.ErrInvalidConfig) || errors.Is(err, backupstore.ErrInvalidName) ||
		errors.Is(err, backupstore.ErrUnsupportedCompression) || errors.Is(err, backupstore.ErrUnsupportedBackup)
}

// ValidateBackupFacts is the pre-flight rule for a bak:// (or bs://) handle at
// path: deny a backup that cannot be restored, listing available ones; allow
// with a warning when the store could not be reached.
func ValidateBackupFacts(path *field.Path, handle string, f BackupFacts) (field.ErrorList, admission.Warnings) {
	if f.Unreachable != nil {
		return nil, admission.Warnings{fmt.Sprintf("%s: the backupstore could not be reached, so %s was not checked (%v)", path, handle, f.Unreachable)}
	}
	if f.Problem == "" && f.BackingImage != "" {
		return nil, admission.Warnings{fmt.Sprintf("%s: %s is of a volume created from Longhorn backing image %q and holds only what the volume wrote on top of it; "+
			"the restore needs that backing image (in Longhorn, or as the file of snaprestore restore --backing-image)", path, handle, f.BackingImage)}
	}
	if f.Problem == "" {
		return nil, nil
	}
	msg := f.Problem
	if hint := (restore.Suggestions{Closest: f.Closest, Available: f.Available}).String(); hint != "" {
		msg += "; " + hint
	}
	return field.ErrorList{field.Invalid(path, handle, msg)}, nil
}
