package backupstore

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrChecksumMismatch: a block's content does not match its checksum (the
	// sha512 prefix, or the lz4/gzip integrity check inside the object).
	ErrChecksumMismatch = errors.New("block checksum mismatch")
	// ErrCorruptBlock: a block object cannot be decompressed, or does not
	// decompress to exactly the block size.
	ErrCorruptBlock = errors.New("corrupt block")
	// ErrBlockMissing: a block listed in a backup has no object in the store.
	ErrBlockMissing = errors.New("block missing")
	// ErrInvalidConfig: a volume.cfg or backup cfg is truncated, garbled or
	// inconsistent.
	ErrInvalidConfig = errors.New("invalid backup config")
	// ErrUnsupportedCompression: a compression method other than lz4, gzip, none.
	ErrUnsupportedCompression = errors.New("unsupported compression method")
	// ErrInvalidName: a volume, backup or checksum that could escape the store
	// or is not in Longhorn's name form.
	ErrInvalidName = errors.New("invalid name")
	// ErrInProgress: the backup has no CreatedTime yet, it is still being written.
	ErrInProgress = errors.New("backup in progress")
	// ErrVolumeNotFound: the store has no volume.cfg for the volume.
	ErrVolumeNotFound = errors.New("volume not found")
	// ErrBackupNotFound: the store has no cfg for the backup.
	ErrBackupNotFound = errors.New("backup not found")
	// ErrUnsupportedBackup: a cfg field the engine does not implement changes
	// what the image holds (a single-file backup), so a restore would be wrong.
	ErrUnsupportedBackup = errors.New("unsupported backup")
)

// BlockError names where a block problem is: the backup, the block offset(s)
// in the volume and the object path in the store. Err wraps a sentinel.
type BlockError struct {
	Backup  string  // "bak://<volume>/<backup>"
	Offsets []int64 // every offset the block is listed at, ascending
	Path    string  // object path inside the store
	Err     error
}

func (e *BlockError) Error() string {
	off := fmt.Sprint(e.Offsets[0])
	if len(e.Offsets) > 1 {
		off = fmt.Sprintf("%d (and %d other offsets)", e.Offsets[0], len(e.Offsets)-1)
	}
	return fmt.Sprintf("%s: block at offset %s (%s): %v", e.Backup, off, e.Path, e.Err)
}

func (e *BlockError) Unwrap() error { return e.Err }

// ConfigError names the config object that could not be used.
type ConfigError struct {
	Path string // object path inside the store
	Err  error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }
