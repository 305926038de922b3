package backupstore

import (
	"encoding/json"
	"strconv"
)

// quote applies Longhorn's double encoding to a volume.cfg string field.
func quote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// MarshalVolume renders v as Longhorn writes volume.cfg.
func MarshalVolume(v *Volume) ([]byte, error) {
	labels := v.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return json.Marshal(volumeFile{
		Name: v.Name, Size: strconv.FormatInt(v.Size, 10), Labels: labels,
		CreatedTime: v.CreatedTime, LastBackupName: v.LastBackupName, LastBackupAt: v.LastBackupAt,
		BlockCount: strconv.FormatInt(v.BlockCount, 10), BackingImageName: quote(v.BackingImageName),
		BackingImageChecksum: quote(v.BackingImageChecksum), CompressionMethod: quote(string(v.CompressionMethod)),
		StorageClassName: quote(v.StorageClassName), DataEngine: quote(v.DataEngine),
	})
}

// MarshalBackup renders b as Longhorn writes backup_<name>.cfg.
func MarshalBackup(b *Backup) ([]byte, error) {
	params := map[string]string{}
	for k, v := range b.Parameters {
		params[k] = v
	}
	params["backup-block-size"] = strconv.FormatInt(b.BlockSize, 10)
	labels := b.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	blocks := b.Blocks
	if blocks == nil {
		blocks = []Block{}
	}
	processing := json.RawMessage("null")
	if !b.IsIncremental {
		processing = json.RawMessage("{}")
	}
	return json.Marshal(backupFile{
		Name: b.Name, VolumeName: b.VolumeName, SnapshotName: b.SnapshotName,
		SnapshotCreatedAt: b.SnapshotCreatedAt, CreatedTime: b.CreatedTime,
		Size: strconv.FormatInt(b.Size, 10), Labels: labels, Parameters: params,
		IsIncremental: b.IsIncremental, CompressionMethod: string(b.CompressionMethod),
		NewlyUploadedDataSize: strconv.FormatInt(b.NewlyUploaded, 10),
		ReUploadedDataSize:    strconv.FormatInt(b.ReUploaded, 10),
		ProcessingBlocks:      processing, Blocks: blocks,
	})
}

// MarshalBackingImage renders b as Longhorn writes backing-image.cfg.
func MarshalBackingImage(b *BackingImage) ([]byte, error) {
	labels := b.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	blocks := b.Blocks
	if blocks == nil {
		blocks = []Block{}
	}
	return json.Marshal(backingImageFile{
		Name: b.Name, Size: strconv.FormatInt(b.Size, 10), BlockCount: strconv.FormatInt(b.BlockCount, 10),
		Checksum: b.Checksum, Labels: labels, CompressionMethod: string(b.CompressionMethod),
		CreatedTime: b.CreatedTime, CompleteTime: b.CompleteTime,
		ProcessingBlocks: json.RawMessage(`{"Blocks":{}}`), Blocks: blocks,
	})
}
