package backupstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
)

// Lister is implemented by drivers whose listing carries modification times (an
// S3 LIST page has LastModified of every key; a directory read has mtimes), so a
// volume's backups can be ordered without reading one cfg (issue #13: one volume
// with 5,000 backups). Drivers without it are listed with Objects.List and zero
// times. (A map of stdlib types, so drivers import nothing of this package.)
type Lister interface {
	// ListModified is List with each name's modification time; zero for a
	// subdirectory or when unknown.
	ListModified(ctx context.Context, dir string) (map[string]time.Time, error)
}

func (s *Store) listModified(ctx context.Context, dir string) (map[string]time.Time, error) {
	if l, ok := s.objs.(Lister); ok {
		return l.ListModified(ctx, dir)
	}
	names, err := s.objs.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(names))
	for _, n := range names {
		out[n] = time.Time{}
	}
	return out, nil
}

// BackupEntry is a backup as one listing of the volume's backups/ shows it.
type BackupEntry struct {
	Name     string
	Modified time.Time // of backup_<name>.cfg; zero when the driver cannot tell
}

// BackupEntries lists a volume's backups with one listing (one LIST request per
// 1,000 backups on S3) and reads no cfg: newest cfg first, ties and unknown
// times by name. Longhorn writes a backup's cfg once, when the backup completes
// (and first while it is in progress), so the order is that of CreatedTime up
// to the clock of the store.
func (s *Store) BackupEntries(ctx context.Context, volume string) ([]BackupEntry, error) {
	if err := ValidateName("volume", volume); err != nil {
		return nil, err
	}
	files, err := s.listModified(ctx, BackupsDir(volume))
	if err != nil {
		return nil, fmt.Errorf("list backups of %s: %w", volume, err)
	}
	var out []BackupEntry
	for f, mod := range files {
		if n, ok := backupNameFromFile(f); ok {
			out = append(out, BackupEntry{Name: n, Modified: mod})
		}
	}
	slices.SortFunc(out, func(a, b BackupEntry) int {
		if c := b.Modified.Compare(a.Modified); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out, nil
}

// ConfigReads bounds the backup cfgs read at once: enough to hide S3 round trips,
// few enough for a store's request-rate limits and the webhook's 2 s budget.
const ConfigReads = 16

// ReadBackups reads the named backup cfgs of vol, at most ConfigReads at once, in
// the order of names. The first error stops the rest.
func (s *Store) ReadBackups(ctx context.Context, vol *Volume, names []string) ([]*Backup, error) {
	out := make([]*Backup, len(names))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(ConfigReads)
	for i, n := range names {
		g.Go(func() error {
			b, err := s.Backup(ctx, vol, n)
			out[i] = b
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
