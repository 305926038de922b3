package backupstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
)

// Objects is what a Store needs from a storage driver. Keys are
// slash-separated paths relative to the backupstore URL.
type Objects interface {
	// Open opens one object; a missing object is an error wrapping fs.ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the names directly under the directory key (files and
	// subdirectories, without a trailing slash); a missing directory is empty.
	List(ctx context.Context, dir string) ([]string, error)
}

// Store reads a Longhorn backupstore. It never writes.
type Store struct {
	objs Objects
}

// New wraps a storage driver.
func New(objs Objects) *Store { return &Store{objs: objs} }

// Objects returns the underlying driver.
func (s *Store) Objects() Objects { return s.objs }

// maxConfigSize bounds a cfg read; a 1 TiB volume with 2 MiB blocks has a
// block map of about 60 MiB.
const maxConfigSize = 256 << 20

func (s *Store) readConfig(ctx context.Context, key string) ([]byte, error) {
	rc, err := s.objs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(rc, maxConfigSize+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if buf.Len() > maxConfigSize {
		return nil, &ConfigError{Path: key, Err: fmt.Errorf("%w: larger than %d bytes", ErrInvalidConfig, maxConfigSize)}
	}
	return buf.Bytes(), nil
}

// Volume reads and parses a volume's volume.cfg.
func (s *Store) Volume(ctx context.Context, name string) (*Volume, error) {
	if err := ValidateName("volume", name); err != nil {
		return nil, err
	}
	key := VolumeConfigPath(name)
	data, err := s.readConfig(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q (no %s)", ErrVolumeNotFound, name, key)
	}
	if err != nil {
		return nil, err
	}
	v, err := ParseVolume(data)
	if err != nil {
		return nil, &ConfigError{Path: key, Err: err}
	}
	if v.Name != name {
		return nil, &ConfigError{Path: key, Err: fmt.Errorf("%w: Name %q; expected %q", ErrInvalidConfig, v.Name, name)}
	}
	return v, nil
}

// Backup reads and parses one backup cfg of the volume (vol from Volume).
// It does not reject in-progress backups; callers check InProgress.
func (s *Store) Backup(ctx context.Context, vol *Volume, name string) (*Backup, error) {
	if err := ValidateName("backup", name); err != nil {
		return nil, err
	}
	key := BackupConfigPath(vol.Name, name)
	data, err := s.readConfig(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: bak://%s/%s (no %s)", ErrBackupNotFound, vol.Name, name, key)
	}
	if err != nil {
		return nil, err
	}
	b, err := ParseBackup(data, vol.CompressionMethod)
	if err != nil {
		return nil, &ConfigError{Path: key, Err: err}
	}
	if b.Name != name || b.VolumeName != vol.Name {
		return nil, &ConfigError{Path: key, Err: fmt.Errorf("%w: names backup %q of volume %q; expected %q of %q",
			ErrInvalidConfig, b.Name, b.VolumeName, name, vol.Name)}
	}
	return b, nil
}

// BackupNames lists the names of a volume's backup cfgs, unsorted.
func (s *Store) BackupNames(ctx context.Context, volume string) ([]string, error) {
	if err := ValidateName("volume", volume); err != nil {
		return nil, err
	}
	files, err := s.objs.List(ctx, BackupsDir(volume))
	if err != nil {
		return nil, fmt.Errorf("list backups of %s: %w", volume, err)
	}
	var names []string
	for _, f := range files {
		if n, ok := backupNameFromFile(f); ok {
			names = append(names, n)
		}
	}
	return names, nil
}

// Backups reads every backup cfg of the volume (ConfigReads at once), newest
// first (by CreatedTime; in-progress backups first, then by name).
func (s *Store) Backups(ctx context.Context, vol *Volume) ([]*Backup, error) {
	names, err := s.BackupNames(ctx, vol.Name)
	if err != nil {
		return nil, err
	}
	out, err := s.ReadBackups(ctx, vol, names)
	if err != nil {
		return nil, err
	}
	SortNewestFirst(out)
	return out, nil
}

// SortNewestFirst orders backups by CreatedTime, newest first; in-progress
// backups (no CreatedTime) come first, ties by name.
func SortNewestFirst(bs []*Backup) {
	slices.SortStableFunc(bs, func(a, b *Backup) int {
		if a.InProgress() != b.InProgress() {
			if a.InProgress() {
				return -1
			}
			return 1
		}
		if c := b.Created().Compare(a.Created()); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
}

// Volumes lists the names of every volume in the store, sorted.
func (s *Store) Volumes(ctx context.Context) ([]string, error) {
	var names []string
	l1, err := s.objs.List(ctx, VolumesDir())
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, a := range l1 {
		l2, err := s.objs.List(ctx, path.Join(VolumesDir(), a))
		if err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		for _, b := range l2 {
			l3, err := s.objs.List(ctx, path.Join(VolumesDir(), a, b))
			if err != nil {
				return nil, fmt.Errorf("list volumes: %w", err)
			}
			for _, v := range l3 {
				if ValidateName("volume", v) == nil && VolumeDir(v) == path.Join(VolumesDir(), a, b, v) {
					names = append(names, v)
				}
			}
		}
	}
	slices.Sort(names)
	return names, nil
}
