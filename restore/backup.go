package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// BackupOptions configure WriteBackup.
type BackupOptions struct {
	Volume string // required; Longhorn name form
	Image  string // required; raw image file or block device to back up
	// Backup names the backup; default "backup-" + 16 random hex digits.
	Backup string
	// Compression of new blocks; default lz4. An existing volume keeps the
	// compression its volume.cfg names.
	Compression backupstore.Compression
	// BlockSize is 2 MiB (default) or 16 MiB.
	BlockSize int64
	// Concurrency of block compression and upload; default 4.
	Concurrency int
	// Labels are copied into the backup cfg.
	Labels map[string]string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// BackupSummary is the result of WriteBackup.
type BackupSummary struct {
	Backup      string // bak://<volume>/<backup>
	VolumeSize  int64
	Incremental bool  // the volume had a previous backup
	Blocks      int   // blocks listed in the backup (all-zero blocks are holes)
	Uploaded    int   // new block objects written
	Reused      int   // blocks whose object the store already held
	UploadBytes int64 // compressed bytes written
	Duration    time.Duration
}

// WriteBackup writes a Longhorn-format backup of a raw image: every non-zero
// block is listed, objects the volume already has are reused (an incremental
// backup when the volume has backups), then the backup cfg and volume.cfg are
// written. Only the data regions of a sparse image are read. The volume size
// is the image size rounded up to the block size.
func WriteBackup(ctx context.Context, st *Store, o BackupOptions) (BackupSummary, error) {
	start := time.Now()
	if err := o.setDefaults(); err != nil {
		return BackupSummary{}, err
	}
	img, err := os.Open(o.Image)
	if err != nil {
		return BackupSummary{}, fmt.Errorf("backup image: %w", err)
	}
	defer img.Close()
	imgSize, err := img.Seek(0, io.SeekEnd)
	if err != nil {
		return BackupSummary{}, fmt.Errorf("backup image %s: %w", o.Image, err)
	}
	if imgSize == 0 {
		return BackupSummary{}, fmt.Errorf("backup image %s is empty", o.Image)
	}
	size := (imgSize + o.BlockSize - 1) / o.BlockSize * o.BlockSize
	vol, err := st.Volume(ctx, o.Volume)
	switch {
	case errors.Is(err, backupstore.ErrVolumeNotFound):
		vol = &backupstore.Volume{Name: o.Volume, CreatedTime: o.Now().UTC().Format(time.RFC3339),
			CompressionMethod: o.Compression, DataEngine: "v1"}
	case err != nil:
		return BackupSummary{}, err
	}
	if names, err := st.BackupNames(ctx, o.Volume); err != nil {
		return BackupSummary{}, err
	} else if slices.Contains(names, o.Backup) {
		return BackupSummary{}, fmt.Errorf("backup bak://%s/%s already exists", o.Volume, o.Backup)
	}
	sum := BackupSummary{Backup: Reference{Volume: o.Volume, Backup: o.Backup}.Handle(), VolumeSize: size, Incremental: vol.LastBackupName != ""}
	blocks, err := uploadBlocks(ctx, st, img, imgSize, vol.CompressionMethod, o, &sum)
	if err != nil {
		return BackupSummary{}, err
	}
	now := o.Now().UTC().Format(time.RFC3339)
	b := &backupstore.Backup{Name: o.Backup, VolumeName: o.Volume, SnapshotName: o.Backup, SnapshotCreatedAt: now,
		CreatedTime: now, Size: int64(len(blocks)) * o.BlockSize, Labels: o.Labels,
		Parameters: map[string]string{"backup-mode": "incremental"}, IsIncremental: sum.Incremental,
		CompressionMethod: vol.CompressionMethod, BlockSize: o.BlockSize, Blocks: blocks,
		NewlyUploaded: sum.UploadBytes}
	data, err := backupstore.MarshalBackup(b)
	if err != nil {
		return BackupSummary{}, err
	}
	if err := st.objs.Put(ctx, backupstore.BackupConfigPath(o.Volume, o.Backup), data); err != nil {
		return BackupSummary{}, err
	}
	vol.Size = max(vol.Size, size)
	vol.LastBackupName, vol.LastBackupAt = o.Backup, now
	vol.BlockCount += int64(sum.Uploaded)
	if data, err = backupstore.MarshalVolume(vol); err != nil {
		return BackupSummary{}, err
	}
	if err := st.objs.Put(ctx, backupstore.VolumeConfigPath(o.Volume), data); err != nil {
		return BackupSummary{}, err
	}
	sum.Blocks = len(blocks)
	sum.Duration = time.Since(start)
	return sum, nil
}

func (o *BackupOptions) setDefaults() error {
	if err := backupstore.ValidateName("volume", o.Volume); err != nil {
		return fmt.Errorf("--volume: %w", err)
	}
	if o.Image == "" {
		return errors.New("--from: the image to back up is required")
	}
	if o.Backup == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		o.Backup = "backup-" + hex.EncodeToString(b[:])
	}
	if err := backupstore.ValidateName("backup", o.Backup); err != nil {
		return fmt.Errorf("--backup: %w", err)
	}
	if o.Compression == "" {
		o.Compression = backupstore.CompressionLZ4
	}
	if _, err := backupstore.ParseCompression(string(o.Compression)); err != nil {
		return fmt.Errorf("--compression: %w", err)
	}
	if o.BlockSize == 0 {
		o.BlockSize = backupstore.DefaultBlockSize
	}
	if o.BlockSize != backupstore.BlockSize2Mi && o.BlockSize != backupstore.BlockSize16Mi {
		return fmt.Errorf("--block-size %d; expected 2Mi or 16Mi", o.BlockSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// uploadBlocks reads the image's data regions block by block, and compresses
// and uploads the blocks the store lacks with a bounded worker pool.
func uploadBlocks(ctx context.Context, st *Store, img *os.File, imgSize int64, m backupstore.Compression, o BackupOptions, sum *BackupSummary) ([]backupstore.Block, error) {
	var (
		mu     sync.Mutex
		blocks []backupstore.Block
		seen   = map[string]bool{}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	free := make(chan []byte, o.Concurrency+1)
	for range o.Concurrency + 1 {
		free <- make([]byte, o.BlockSize)
	}
	err := dataBlocks(img, imgSize, o.BlockSize, func(off int64) error {
		buf := <-free
		clear(buf)
		if _, err := img.ReadAt(buf[:min(o.BlockSize, imgSize-off)], off); err != nil && err != io.EOF {
			return fmt.Errorf("read image at offset %d: %w", off, err)
		}
		g.Go(func() error {
			defer func() { free <- buf }()
			if isZero(buf) {
				return nil
			}
			c := backupstore.Checksum(buf)
			mu.Lock()
			blocks = append(blocks, backupstore.Block{Offset: off, Checksum: c})
			dup := seen[c]
			seen[c] = true
			mu.Unlock()
			if dup {
				return nil
			}
			return uploadBlock(gctx, st, o.Volume, c, m, buf, &mu, sum)
		})
		return gctx.Err()
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(blocks, func(a, b backupstore.Block) int { return int(a.Offset/o.BlockSize - b.Offset/o.BlockSize) })
	return blocks, nil
}

func uploadBlock(ctx context.Context, st *Store, volume, c string, m backupstore.Compression, block []byte, mu *sync.Mutex, sum *BackupSummary) error {
	key := backupstore.BlockPath(volume, c)
	ok, err := st.objs.Exists(ctx, key)
	if err != nil {
		return err
	}
	if ok {
		mu.Lock()
		sum.Reused++
		mu.Unlock()
		return nil
	}
	var enc backupstore.Encoder
	var out bytes.Buffer
	if err := enc.Encode(m, block, &out); err != nil {
		return fmt.Errorf("compress block %s: %w", c, err)
	}
	if err := st.objs.Put(ctx, key, out.Bytes()); err != nil {
		return err
	}
	mu.Lock()
	sum.Uploaded++
	sum.UploadBytes += int64(out.Len())
	mu.Unlock()
	return nil
}
