package restore

import (
	"context"
	"time"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// Backup states as listed.
const (
	StateCompleted  = "completed"
	StateInProgress = "in progress"
)

// VolumeInfo is one volume of a backupstore and its backups, newest first.
type VolumeInfo struct {
	Name       string       `json:"name"`
	Size       int64        `json:"size"`
	LastBackup string       `json:"lastBackup,omitempty"`
	Backups    []BackupInfo `json:"backups"`
	// Omitted counts the older backups not listed (ListOptions.Limit).
	Omitted int `json:"omittedBackups,omitempty"`
}

// BackupInfo describes one backup.
type BackupInfo struct {
	Handle      string    `json:"handle"` // bak://<volume>/<backup>
	Volume      string    `json:"volume"`
	Name        string    `json:"name"`
	State       string    `json:"state"`             // StateCompleted or StateInProgress
	Created     time.Time `json:"created,omitzero"`  // zero while in progress
	VolumeSize  int64     `json:"volumeSize"`        // restore size in bytes
	StoredSize  int64     `json:"storedSize"`        // bytes of the listed blocks, uncompressed
	Blocks      int       `json:"blocks"`            // listed blocks
	BlockSize   int64     `json:"blockSize"`         // bytes
	Compression string    `json:"compression"`       // lz4, gzip or none
	Snapshot    string    `json:"snapshot,omitzero"` // Longhorn snapshot name
}

// ListOptions select what List returns.
type ListOptions struct {
	// Volume lists only this volume. Default "": every volume of the store.
	Volume string
	// Limit is how many backups of each volume are listed, newest first; only
	// their cfgs are read (the order comes from the listing, see
	// backupstore.Store.BackupEntries). Default 0: all.
	Limit int
}

// List returns the volumes of the store with their backups, newest first.
func List(ctx context.Context, st *backupstore.Store, o ListOptions) ([]VolumeInfo, error) {
	names := []string{o.Volume}
	if o.Volume == "" {
		var err error
		if names, err = st.Volumes(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]VolumeInfo, 0, len(names))
	for _, n := range names {
		vi, err := listVolume(ctx, st, n, o.Limit)
		if err != nil {
			return nil, err
		}
		out = append(out, vi)
	}
	return out, nil
}

// ListVolume returns one volume and all its backups, newest first.
func ListVolume(ctx context.Context, st *backupstore.Store, volume string) (VolumeInfo, error) {
	return listVolume(ctx, st, volume, 0)
}

func listVolume(ctx context.Context, st *backupstore.Store, volume string, limit int) (VolumeInfo, error) {
	vol, err := st.Volume(ctx, volume)
	if err != nil {
		return VolumeInfo{}, err
	}
	entries, err := st.BackupEntries(ctx, vol.Name)
	if err != nil {
		return VolumeInfo{}, err
	}
	names := make([]string, len(entries))
	timed := false
	for i, e := range entries {
		names[i] = e.Name
		timed = timed || !e.Modified.IsZero()
	}
	if timed && limit > 0 && len(names) > limit {
		names = names[:limit] // the newest by the listing: read only these
	}
	bs, err := st.ReadBackups(ctx, vol, names)
	if err != nil {
		return VolumeInfo{}, err
	}
	backupstore.SortNewestFirst(bs)
	if limit > 0 && len(bs) > limit {
		bs = bs[:limit]
	}
	vi := VolumeInfo{Name: vol.Name, Size: vol.Size, LastBackup: vol.LastBackupName, Backups: make([]BackupInfo, 0, len(bs)),
		Omitted: len(entries) - len(bs)}
	for _, b := range bs {
		vi.Backups = append(vi.Backups, Info(vol, b))
	}
	return vi, nil
}

// Info summarizes a parsed backup of vol.
func Info(vol *backupstore.Volume, b *backupstore.Backup) BackupInfo {
	state := StateCompleted
	if b.InProgress() {
		state = StateInProgress
	}
	return BackupInfo{Handle: Reference{Volume: b.VolumeName, Backup: b.Name}.Handle(), Volume: b.VolumeName, Name: b.Name,
		State: state, Created: b.Created(), VolumeSize: vol.Size, StoredSize: int64(len(b.Blocks)) * b.BlockSize,
		Blocks: len(b.Blocks), BlockSize: b.BlockSize, Compression: string(b.CompressionMethod), Snapshot: b.SnapshotName}
}

// Completed returns the handles of vol's completed backups, newest first, at most
// limit of them (all when limit is 0): what a "backup not found" error offers
// instead. One listing, and only the cfgs shown are read (see Suggest).
func Completed(ctx context.Context, st *backupstore.Store, vol *backupstore.Volume, limit int) ([]string, error) {
	s, err := Suggest(ctx, st, vol, "", limit)
	return s.Available, err
}
