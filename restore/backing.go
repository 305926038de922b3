package restore

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// Backing image errors; test with errors.Is.
var (
	// ErrBackingImageRequired: the backup's volume was created from a Longhorn
	// backing image, and the backup holds only what the volume wrote on top of
	// it; without the image the restore would silently lack the base data.
	ErrBackingImageRequired = errors.New("backup needs its backing image")
	// ErrBackingImageMismatch: the supplied backing image is not the one
	// volume.cfg names (SHA-512 or size).
	ErrBackingImageMismatch = errors.New("backing image does not match")
)

// checkBacking is the rule for a backup of vol restored with Options o: a volume
// on a backing image needs o.BackingImage, and only a plain full restore can lay
// it down (a resumed or incremental restore would overwrite or zero what the base
// provides).
func checkBacking(handle string, vol *backupstore.Volume, o Options) error {
	switch {
	case vol.BackingImageName == "" && o.BackingImage != "":
		return fmt.Errorf("--backing-image %s: volume %q of %s has no backing image (volume.cfg BackingImageName is empty); expected no --backing-image",
			o.BackingImage, vol.Name, handle)
	case vol.BackingImageName == "":
		return nil
	case o.BackingImage == "":
		return fmt.Errorf("%s: %w: volume %q was created from Longhorn backing image %q (volume.cfg BackingImageName) and the backup holds only what the volume wrote on top of it; "+
			"expected the image file with --backing-image FILE (e.g. downloaded from Longhorn's backing image page)", handle, ErrBackingImageRequired, vol.Name, vol.BackingImageName)
	case o.Resume || o.IncrementalFrom != "":
		return fmt.Errorf("--backing-image %s: not supported with --resume or --incremental-from; expected a full restore (--force to start over)", o.BackingImage)
	}
	return nil
}

// checkBase checks the backing image at path against volume.cfg before anything
// is written: not larger than the volume, and its SHA-512 equal to
// BackingImageChecksum when Longhorn recorded one (Longhorn's checksum is the
// sha512sum of the image file).
func checkBase(path string, vol *backupstore.Volume) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--backing-image: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("--backing-image: %w", err)
	}
	if info.Size() > vol.Size {
		return fmt.Errorf("--backing-image %s: %w: %d bytes, larger than volume %q (%d bytes); expected backing image %q",
			path, ErrBackingImageMismatch, info.Size(), vol.Name, vol.Size, vol.BackingImageName)
	}
	want := vol.BackingImageChecksum
	if want == "" {
		return nil
	}
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("--backing-image %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("--backing-image %s: %w: SHA-512 %s; expected %s (volume.cfg BackingImageChecksum of %q)",
			path, ErrBackingImageMismatch, got, want, vol.BackingImageName)
	}
	return nil
}

// layBase copies the backing image at path (checked by checkBase) onto the
// target, skipping all-zero chunks on a fresh sparse target, and zeroes what it
// does not cover on any other target. It returns the bytes written.
func layBase(path string, vol *backupstore.Volume, t *target) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("--backing-image: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var off, written int64
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 && (!t.fresh || !isZero(buf[:n])) {
			if err := t.writeAt(buf[:n], off); err != nil {
				return written, fmt.Errorf("write backing image to target at offset %d: %w", off, err)
			}
			written += int64(n)
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return written, fmt.Errorf("--backing-image %s: read at offset %d: %w", path, off, rerr)
		}
	}
	if !t.fresh && off < vol.Size {
		if err := t.zero(off, vol.Size-off); err != nil {
			return written, err
		}
	}
	return written, nil
}
