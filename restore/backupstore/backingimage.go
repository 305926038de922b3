package backupstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
)

// ErrBackingImageNotFound: the store has no backing-image.cfg for the image.
var ErrBackingImageNotFound = errors.New("backing image backup not found")

// BackingImageBlockSize is the block size of a backing image backup: Longhorn
// cuts the image into 2 MiB blocks; the last one may be shorter.
const BackingImageBlockSize = BlockSize2Mi

// BackingImage is a parsed backing-image.cfg: the backup Longhorn makes of a
// backing image itself (one per image name, blocks shared by every image).
type BackingImage struct {
	Name       string
	Size       int64 // bytes of the image file
	BlockCount int64
	// Checksum is the hex SHA-512 of the whole image file, when recorded.
	Checksum          string
	Labels            map[string]string
	CompressionMethod Compression // gzip when the cfg names none
	CreatedTime       string
	CompleteTime      string // empty while the backup is in progress
	Blocks            []Block
}

// InProgress reports whether the backup is still being written.
func (b *BackingImage) InProgress() bool { return b.CompleteTime == "" }

// BackingImagesDir holds one directory per backed-up image:
// backupstore/backing-images/backing-images/<name>/backing-image.cfg.
func BackingImagesDir() string { return path.Join(Root, "backing-images", "backing-images") }

// BackingImageConfigPath is the path of an image's backing-image.cfg. The
// name must have passed ValidateName.
func BackingImageConfigPath(name string) string {
	return path.Join(BackingImagesDir(), name, "backing-image.cfg")
}

// BackingImageBlockPath is backupstore/backing-images/blocks/<c[0:2]>/<c[2:4]>/<c>.blk.
// The checksum must have passed ValidateChecksum.
func BackingImageBlockPath(checksum string) string {
	return path.Join(Root, "backing-images", "blocks", checksum[0:2], checksum[2:4], checksum+".blk")
}

type backingImageFile struct {
	Name              string            `json:"Name"`
	Size              string            `json:"Size"`
	BlockCount        string            `json:"BlockCount"`
	Checksum          string            `json:"Checksum"`
	Labels            map[string]string `json:"Labels"`
	CompressionMethod string            `json:"CompressionMethod"`
	CreatedTime       string            `json:"CreatedTime"`
	CompleteTime      string            `json:"CompleteTime"`
	ProcessingBlocks  json.RawMessage   `json:"ProcessingBlocks"`
	Blocks            []Block           `json:"Blocks"`
}

// ParseBackingImage parses backing-image.cfg: Size positive, Checksum empty or
// 128 lowercase hex characters, the block map sorted, 2 MiB aligned, inside
// Size and naming well-formed checksums. Errors wrap ErrInvalidConfig,
// ErrUnsupportedCompression or ErrInvalidName.
func ParseBackingImage(data []byte) (*BackingImage, error) {
	var f backingImageFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: backing-image.cfg is not a JSON object: %v", ErrInvalidConfig, err)
	}
	if err := ValidateName("backing image", f.Name); err != nil {
		return nil, fmt.Errorf("%w: Name: %w", ErrInvalidConfig, err)
	}
	b := &BackingImage{Name: f.Name, Labels: f.Labels, CreatedTime: f.CreatedTime,
		CompleteTime: f.CompleteTime, Blocks: f.Blocks}
	var err error
	if b.Size, err = parseCount("Size", f.Size, true); err != nil {
		return nil, err
	}
	if b.BlockCount, err = parseCount("BlockCount", f.BlockCount, false); err != nil {
		return nil, err
	}
	if f.Checksum != "" && !isHex(f.Checksum, 128) {
		return nil, fmt.Errorf("%w: Checksum %q; expected empty or the SHA-512 of the image (128 lowercase hex characters)", ErrInvalidConfig, f.Checksum)
	}
	b.Checksum = f.Checksum
	if b.CompressionMethod, err = ParseCompression(f.CompressionMethod); err != nil {
		return nil, fmt.Errorf("backing-image.cfg CompressionMethod: %w", err)
	}
	if err := checkBlocks(b.Blocks, BackingImageBlockSize); err != nil {
		return nil, err
	}
	if n := len(b.Blocks); n > 0 && b.Blocks[n-1].Offset >= b.Size {
		return nil, fmt.Errorf("%w: Blocks[%d].Offset %d lies beyond the image size %d", ErrInvalidConfig, n-1, b.Blocks[n-1].Offset, b.Size)
	}
	return b, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// BackingImage reads and parses the backup of backing image name. A missing
// cfg wraps ErrBackingImageNotFound and names the path looked for.
func (s *Store) BackingImage(ctx context.Context, name string) (*BackingImage, error) {
	if err := ValidateName("backing image", name); err != nil {
		return nil, err
	}
	key := BackingImageConfigPath(name)
	data, err := s.readConfig(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q (no %s)", ErrBackingImageNotFound, name, key)
	}
	if err != nil {
		return nil, err
	}
	b, err := ParseBackingImage(data)
	if err != nil {
		return nil, &ConfigError{Path: key, Err: err}
	}
	if b.Name != name {
		return nil, &ConfigError{Path: key, Err: fmt.Errorf("%w: Name %q; expected %q", ErrInvalidConfig, b.Name, name)}
	}
	return b, nil
}

// BackingImages lists the names of every backed-up backing image, unsorted.
func (s *Store) BackingImages(ctx context.Context) ([]string, error) {
	dirs, err := s.objs.List(ctx, BackingImagesDir())
	if err != nil {
		return nil, fmt.Errorf("list backing images: %w", err)
	}
	var names []string
	for _, d := range dirs {
		if ValidateName("backing image", d) == nil {
			names = append(names, d)
		}
	}
	return names, nil
}
