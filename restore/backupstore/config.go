package backupstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Block sizes Longhorn allows (backup parameter backup-block-size).
const (
	BlockSize2Mi  int64 = 2 << 20
	BlockSize16Mi int64 = 16 << 20
	// DefaultBlockSize applies when a backup cfg carries no backup-block-size.
	DefaultBlockSize = BlockSize2Mi
)

// Volume is a parsed volume.cfg.
type Volume struct {
	Name             string
	Size             int64 // logical size in bytes
	Labels           map[string]string
	CreatedTime      string
	LastBackupName   string
	LastBackupAt     string
	BlockCount       int64 // number of .blk objects
	BackingImageName string
	// BackingImageChecksum is the hex SHA-512 of the backing image file, when
	// Longhorn recorded it.
	BackingImageChecksum string
	CompressionMethod    Compression // gzip when volume.cfg has none
	StorageClassName     string
	DataEngine           string
}

// Block is one entry of a backup's block map.
type Block struct {
	Offset   int64  `json:"Offset"`
	Checksum string `json:"BlockChecksum"`
}

// Backup is a parsed backup_<name>.cfg. Blocks lists every block of the volume
// at that backup, sorted by offset; one cfg is enough to restore.
type Backup struct {
	Name              string
	VolumeName        string
	SnapshotName      string
	SnapshotCreatedAt string
	CreatedTime       string // empty while the backup is in progress
	Size              int64  // stored bytes (blocks × block size)
	Labels            map[string]string
	Parameters        map[string]string
	IsIncremental     bool
	CompressionMethod Compression
	BlockSize         int64
	Blocks            []Block
	NewlyUploaded     int64
	ReUploaded        int64
}

// InProgress reports whether the backup is still being written.
func (b *Backup) InProgress() bool { return b.CreatedTime == "" }

// Created parses CreatedTime (RFC 3339); the zero time when absent or garbled.
func (b *Backup) Created() time.Time {
	t, _ := time.Parse(time.RFC3339, b.CreatedTime)
	return t
}

// volumeFile mirrors volume.cfg: numbers are strings and several strings are
// themselves JSON-encoded strings.
type volumeFile struct {
	Name                 string            `json:"Name"`
	Size                 string            `json:"Size"`
	Labels               map[string]string `json:"Labels"`
	CreatedTime          string            `json:"CreatedTime"`
	LastBackupName       string            `json:"LastBackupName"`
	LastBackupAt         string            `json:"LastBackupAt"`
	BlockCount           string            `json:"BlockCount"`
	BackingImageName     string            `json:"BackingImageName"`
	BackingImageChecksum string            `json:"BackingImageChecksum"`
	CompressionMethod    string            `json:"CompressionMethod"`
	StorageClassName     string            `json:"StorageClassName"`
	DataEngine           string            `json:"DataEngine"`
}

type backupFile struct {
	Name                  string            `json:"Name"`
	VolumeName            string            `json:"VolumeName"`
	SnapshotName          string            `json:"SnapshotName"`
	SnapshotCreatedAt     string            `json:"SnapshotCreatedAt"`
	CreatedTime           string            `json:"CreatedTime"`
	Size                  string            `json:"Size"`
	Labels                map[string]string `json:"Labels"`
	Parameters            map[string]string `json:"Parameters"`
	IsIncremental         bool              `json:"IsIncremental"`
	CompressionMethod     string            `json:"CompressionMethod"`
	NewlyUploadedDataSize string            `json:"NewlyUploadedDataSize"`
	ReUploadedDataSize    string            `json:"ReUploadedDataSize"`
	ProcessingBlocks      json.RawMessage   `json:"ProcessingBlocks"`
	Blocks                []Block           `json:"Blocks"`
	SingleFile            struct {
		FilePath string `json:"FilePath"`
	} `json:"SingleFile"`
}

// ParseVolume parses volume.cfg. Errors wrap ErrInvalidConfig,
// ErrUnsupportedCompression or ErrInvalidName.
func ParseVolume(data []byte) (*Volume, error) {
	var f volumeFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: volume.cfg is not a JSON object: %v", ErrInvalidConfig, err)
	}
	if err := ValidateName("volume", f.Name); err != nil {
		return nil, fmt.Errorf("%w: Name: %w", ErrInvalidConfig, err)
	}
	v := &Volume{Name: f.Name, Labels: f.Labels, CreatedTime: f.CreatedTime,
		LastBackupName: f.LastBackupName, LastBackupAt: f.LastBackupAt}
	var err error
	if v.Size, err = parseCount("Size", f.Size, true); err != nil {
		return nil, err
	}
	if f.BlockCount != "" {
		if v.BlockCount, err = parseCount("BlockCount", f.BlockCount, false); err != nil {
			return nil, err
		}
	}
	fields := []struct {
		name string
		in   string
		out  *string
	}{
		{"BackingImageName", f.BackingImageName, &v.BackingImageName},
		{"BackingImageChecksum", f.BackingImageChecksum, &v.BackingImageChecksum},
		{"StorageClassName", f.StorageClassName, &v.StorageClassName},
		{"DataEngine", f.DataEngine, &v.DataEngine},
	}
	for _, fl := range fields {
		if *fl.out, err = decodeQuoted(fl.name, fl.in); err != nil {
			return nil, err
		}
	}
	c, err := decodeQuoted("CompressionMethod", f.CompressionMethod)
	if err != nil {
		return nil, err
	}
	if v.CompressionMethod, err = ParseCompression(c); err != nil {
		return nil, fmt.Errorf("volume.cfg CompressionMethod: %w", err)
	}
	return v, nil
}

// ParseBackup parses backup_<name>.cfg. volumeCompression applies when the cfg
// names none. The block map must be sorted, aligned to the block size and
// name well-formed checksums.
func ParseBackup(data []byte, volumeCompression Compression) (*Backup, error) {
	var f backupFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: backup cfg is not a JSON object: %v", ErrInvalidConfig, err)
	}
	if err := ValidateName("backup", f.Name); err != nil {
		return nil, fmt.Errorf("%w: Name: %w", ErrInvalidConfig, err)
	}
	if err := ValidateName("volume", f.VolumeName); err != nil {
		return nil, fmt.Errorf("%w: VolumeName: %w", ErrInvalidConfig, err)
	}
	b := &Backup{Name: f.Name, VolumeName: f.VolumeName, SnapshotName: f.SnapshotName,
		SnapshotCreatedAt: f.SnapshotCreatedAt, CreatedTime: f.CreatedTime, Labels: f.Labels,
		Parameters: f.Parameters, IsIncremental: f.IsIncremental, Blocks: f.Blocks}
	var err error
	if b.Size, err = parseCount("Size", f.Size, false); err != nil {
		return nil, err
	}
	if b.NewlyUploaded, err = parseCount("NewlyUploadedDataSize", f.NewlyUploadedDataSize, false); err != nil {
		return nil, err
	}
	if b.ReUploaded, err = parseCount("ReUploadedDataSize", f.ReUploadedDataSize, false); err != nil {
		return nil, err
	}
	b.CompressionMethod = volumeCompression
	if f.CompressionMethod != "" {
		if b.CompressionMethod, err = ParseCompression(f.CompressionMethod); err != nil {
			return nil, fmt.Errorf("backup cfg CompressionMethod: %w", err)
		}
	}
	if b.BlockSize, err = parseBlockSize(f.Parameters["backup-block-size"]); err != nil {
		return nil, err
	}
	if err := checkBlocks(b.Blocks, b.BlockSize); err != nil {
		return nil, err
	}
	// A single-file backup (SingleFile.FilePath) stores one file, not a volume's
	// block map: restoring its (empty) block map would "succeed" with nothing.
	if f.SingleFile.FilePath != "" {
		return nil, fmt.Errorf("%w: SingleFile.FilePath %q: a single-file backup, not a block backup of a volume; expected a cfg with a block map (Blocks)",
			ErrUnsupportedBackup, f.SingleFile.FilePath)
	}
	return b, nil
}

func parseBlockSize(s string) (int64, error) {
	if s == "" {
		return DefaultBlockSize, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || (n != BlockSize2Mi && n != BlockSize16Mi) {
		return 0, fmt.Errorf("%w: Parameters.backup-block-size %q; expected %d or %d", ErrInvalidConfig, s, BlockSize2Mi, BlockSize16Mi)
	}
	return n, nil
}

func checkBlocks(blocks []Block, blockSize int64) error {
	prev := int64(-1)
	for i, blk := range blocks {
		if blk.Offset < 0 || blk.Offset%blockSize != 0 {
			return fmt.Errorf("%w: Blocks[%d].Offset %d; expected a non-negative multiple of the block size %d", ErrInvalidConfig, i, blk.Offset, blockSize)
		}
		if blk.Offset <= prev {
			return fmt.Errorf("%w: Blocks[%d].Offset %d; expected offsets in ascending order without repeats", ErrInvalidConfig, i, blk.Offset)
		}
		prev = blk.Offset
		if err := ValidateChecksum(blk.Checksum); err != nil {
			return fmt.Errorf("%w: Blocks[%d].BlockChecksum: %w", ErrInvalidConfig, i, err)
		}
	}
	return nil
}

// CheckFits checks a backup against its volume's size: the size is a positive
// multiple of the block size and every block lies inside it.
func (b *Backup) CheckFits(volumeSize int64) error {
	if volumeSize <= 0 || volumeSize%b.BlockSize != 0 {
		return fmt.Errorf("%w: volume size %d is not a positive multiple of the block size %d", ErrInvalidConfig, volumeSize, b.BlockSize)
	}
	if n := len(b.Blocks); n > 0 && b.Blocks[n-1].Offset+b.BlockSize > volumeSize {
		return fmt.Errorf("%w: Blocks[%d].Offset %d lies beyond the volume size %d", ErrInvalidConfig, n-1, b.Blocks[n-1].Offset, volumeSize)
	}
	return nil
}

func parseCount(field, s string, positive bool) (int64, error) {
	if s == "" && !positive {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || (positive && n == 0) {
		return 0, fmt.Errorf("%w: %s %q; expected a quoted decimal number of bytes", ErrInvalidConfig, field, s)
	}
	return n, nil
}

// decodeQuoted undoes Longhorn's double encoding ("\"lz4\"" → lz4); a value
// that is not itself quoted is taken as is.
func decodeQuoted(field, s string) (string, error) {
	if !strings.HasPrefix(s, `"`) {
		return s, nil
	}
	var out string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return "", fmt.Errorf("%w: %s %q; expected a JSON-encoded string", ErrInvalidConfig, field, s)
	}
	return out, nil
}
