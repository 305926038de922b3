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

// List returns the volumes of the store (only the named one when volume is
// not empty) with their backups, newest first.
func List(ctx context.Context, st *backupstore.Store, volume string) ([]VolumeInfo, error) {
	names := []string{volume}
	if volume == "" {
		var err error
		if names, err = st.Volumes(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]VolumeInfo, 0, len(names))
	for _, n := range names {
		vi, err := ListVolume(ctx, st, n)
		if err != nil {
			return nil, err
		}
		out = append(out, vi)
	}
	return out, nil
}

// ListVolume returns one volume and its backups, newest first.
func ListVolume(ctx context.Context, st *backupstore.Store, volume string) (VolumeInfo, error) {
	vol, err := st.Volume(ctx, volume)
	if err != nil {
		return VolumeInfo{}, err
	}
	bs, err := st.Backups(ctx, vol)
	if err != nil {
		return VolumeInfo{}, err
	}
	vi := VolumeInfo{Name: vol.Name, Size: vol.Size, LastBackup: vol.LastBackupName, Backups: make([]BackupInfo, 0, len(bs))}
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
	return BackupInfo{Handle: "bak://" + b.VolumeName + "/" + b.Name, Volume: b.VolumeName, Name: b.Name,
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
