package restore

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"time"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// chooseBase applies the backing image rules before anything is written: the
// file o.BackingImage checked against volume.cfg, else (volume.cfg naming an
// image) the image's backup in the store, which it returns.
func chooseBase(ctx context.Context, st *backupstore.Store, r *Resolved, o Options) (*backupstore.BackingImage, error) {
	if r.Volume.BackingImageName != "" && o.BackingImage == "" {
		return findStoreBase(ctx, st, r.Ref.Handle(), r.Volume, o)
	}
	if err := checkBacking(r.Ref.Handle(), r.Volume, o); err != nil {
		return nil, err
	}
	if o.BackingImage != "" {
		return nil, checkBase(o.BackingImage, r.Volume)
	}
	return nil, nil
}

// layChosenBase lays the base chooseBase picked (if any) onto t, which is then
// no longer fresh: zero blocks must be written over the base. It returns the
// bytes written.
func layChosenBase(ctx context.Context, st *backupstore.Store, r *Resolved, o Options, storeBase *backupstore.BackingImage, t *target) (int64, error) {
	var n int64
	var err error
	switch {
	case o.BackingImage != "":
		n, err = layBase(o.BackingImage, r.Volume, t)
	case storeBase != nil:
		if n, err = layStoreBase(ctx, st, storeBase, r.Volume.BackingImageChecksum, t, r.Volume.Size); err != nil {
			err = discardFresh(t, err)
		}
	default:
		return 0, nil
	}
	t.fresh = false
	return n, err
}

// findStoreBase is asked when volume.cfg names a backing image and no
// --backing-image FILE is given: the image's own backup in the same store
// (backing-images/backing-images/<name>/backing-image.cfg) supplies the base.
// Absent, the restore is refused naming the image and the path looked for.
func findStoreBase(ctx context.Context, st *backupstore.Store, handle string, vol *backupstore.Volume, o Options) (*backupstore.BackingImage, error) {
	name := vol.BackingImageName
	cfg := backupstore.BackingImageConfigPath(name)
	bi, err := st.BackingImage(ctx, name)
	switch {
	case errors.Is(err, backupstore.ErrBackingImageNotFound):
		return nil, fmt.Errorf("%w; the store holds no backup of the image either (looked for %s)", checkBacking(handle, vol, o), cfg)
	case err != nil:
		return nil, fmt.Errorf("%s: backing image %q: %w", handle, name, err)
	case bi.InProgress():
		return nil, fmt.Errorf("%s: %w: the backup of backing image %q is still in progress (%s has no CompleteTime); expected a completed backup or --backing-image FILE",
			handle, ErrBackingImageRequired, name, cfg)
	case o.Resume || o.IncrementalFrom != "":
		return nil, fmt.Errorf("%s: backing image %q from the store: not supported with --resume or --incremental-from; expected a full restore (--force to start over)", handle, name)
	case bi.Size > vol.Size:
		return nil, fmt.Errorf("%s: %w: backing image %q in the store (%s) is %d bytes, larger than volume %q (%d bytes)",
			handle, ErrBackingImageMismatch, name, cfg, bi.Size, vol.Name, vol.Size)
	case bi.Checksum != "" && vol.BackingImageChecksum != "" && bi.Checksum != vol.BackingImageChecksum:
		return nil, fmt.Errorf("%s: %w: backing image %q in the store (%s) has Checksum %s; expected %s (volume.cfg BackingImageChecksum)",
			handle, ErrBackingImageMismatch, name, cfg, bi.Checksum, vol.BackingImageChecksum)
	}
	return bi, nil
}

// layStoreBase writes the backing image backup bi onto t: every block fetched,
// decompressed and checked against its block checksum, unlisted ranges read as
// zeros, and the whole image's SHA-512 checked against bi.Checksum and want
// (volume.cfg BackingImageChecksum; either may be empty). On a target that is
// not fresh, what the image does not cover up to zeroTo is zeroed. It returns
// the bytes written.
func layStoreBase(ctx context.Context, st *backupstore.Store, bi *backupstore.BackingImage, want string, t *target, zeroTo int64) (int64, error) {
	cfg := backupstore.BackingImageConfigPath(bi.Name)
	handle := "backing image " + bi.Name
	h := sha512.New()
	buf := make([]byte, backupstore.BackingImageBlockSize) // page-aligned: large allocations are
	var src bytes.Buffer
	var dec backupstore.Decoder
	var pos, written int64
	gap := func(end int64) error {
		if end <= pos {
			return nil
		}
		hashZeros(h, end-pos)
		if !t.fresh {
			return t.zero(pos, end-pos)
		}
		return nil
	}
	for _, blk := range bi.Blocks {
		if err := gap(blk.Offset); err != nil {
			return written, err
		}
		data := buf[:min(backupstore.BackingImageBlockSize, bi.Size-blk.Offset)]
		key := backupstore.BackingImageBlockPath(blk.Checksum)
		err := fetchObject(ctx, st.Objects(), key, &src, maxObjectSize(backupstore.BackingImageBlockSize))
		if err == nil {
			err = dec.Decode(bi.CompressionMethod, src.Bytes(), data, blk.Checksum)
		}
		if err != nil {
			return written, &backupstore.BlockError{Backup: handle, Offsets: []int64{blk.Offset}, Path: key, Err: err}
		}
		h.Write(data)
		if !t.fresh || !isZero(data) {
			if err := t.writeAt(data, blk.Offset); err != nil {
				return written, fmt.Errorf("write %s to target at offset %d: %w", handle, blk.Offset, err)
			}
			written += int64(len(data))
		}
		pos = blk.Offset + int64(len(data))
	}
	if err := gap(bi.Size); err != nil {
		return written, err
	}
	got := hex.EncodeToString(h.Sum(nil))
	for _, c := range []struct{ want, source string }{{bi.Checksum, cfg + " Checksum"}, {want, "volume.cfg BackingImageChecksum"}} {
		if c.want != "" && got != c.want {
			return written, fmt.Errorf("%s from the store: %w: SHA-512 %s; expected %s (%s)", handle, ErrBackingImageMismatch, got, c.want, c.source)
		}
	}
	if !t.fresh && pos < zeroTo {
		if err := t.zero(pos, zeroTo-pos); err != nil {
			return written, err
		}
	}
	return written, nil
}

func hashZeros(h hash.Hash, n int64) {
	for n > 0 {
		k := min(n, int64(len(zeroChunk)))
		h.Write(zeroChunk[:k])
		n -= k
	}
}

// RestoreBackingImage writes the backing image name, from its own backup in
// the store, to targetPath (a new sparse file of the image's size, or with
// o.Force an existing file or device), checked block by block and as a whole
// against the SHA-512 the backup recorded. It returns when the image is synced.
func RestoreBackingImage(ctx context.Context, st *backupstore.Store, name, targetPath string, o Options) (Summary, error) {
	start := time.Now()
	bi, err := st.BackingImage(ctx, name)
	if err != nil {
		return Summary{}, err
	}
	if bi.InProgress() {
		return Summary{}, fmt.Errorf("backing image %q: %w: %s has no CompleteTime; expected a completed backup",
			name, backupstore.ErrInProgress, backupstore.BackingImageConfigPath(name))
	}
	t, err := openTarget(targetPath, targetMode{size: bi.Size, force: o.Force})
	if err != nil {
		return Summary{}, err
	}
	defer t.close()
	t.openDirect()
	written, err := layStoreBase(ctx, st, bi, "", t, bi.Size)
	if err != nil {
		return Summary{}, discardFresh(t, err)
	}
	if err := t.f.Sync(); err != nil {
		return Summary{}, fmt.Errorf("sync target %s: %w", targetPath, err)
	}
	return Summary{Backup: "backing image " + name, Target: targetPath, VolumeSize: bi.Size, Bytes: bi.Size,
		Blocks: len(bi.Blocks), Written: written, Duration: time.Since(start)}, nil
}

// discardFresh removes a target file this run created when laying the base
// failed: no progress record exists yet, and a half-written image left behind
// could pass for a restored one. err is returned (joined with a removal error).
func discardFresh(t *target, err error) error {
	if !t.fresh || !t.regular {
		return err
	}
	if rerr := os.Remove(t.path); rerr != nil {
		return errors.Join(err, fmt.Errorf("remove the incomplete target: %w", rerr))
	}
	return err
}
