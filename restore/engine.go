package restore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/restore/internal/batchsha"
)

// Options configure Restore.
type Options struct {
	// Concurrency is the number of blocks fetched and decoded at once; default
	// max(4, 2×GOMAXPROCS) for 2 MiB blocks and 2 for 16 MiB blocks (memory
	// is about 2 blocks per worker).
	Concurrency int
	// BatchChecksums raises the default Concurrency to 16 for 2 MiB blocks
	// where block checksums are hashed eight at a time (AVX-512, a build
	// with GOEXPERIMENT=simd: restore/internal/batchsha), so that batches
	// fill: about half the CPU time for about twice the memory (16 fetches
	// of two blocks each). The populator's pods set it; the CLI's default
	// stays within its memory bound (--concurrency 16 does the same).
	BatchChecksums bool
	// Force overwrites a non-empty target (or discards a progress record).
	Force bool
	// Resume continues an interrupted restore from its progress record;
	// without a record it is an ordinary restore.
	Resume bool
	// Record keeps the progress record. Default: the file beside the target,
	// FileRecord(target + RecordSuffix).
	Record RecordStore
	// RecordDiscarded, when set, is told why Force discarded a progress record
	// that did not load (unreadable, or of another restore).
	RecordDiscarded func(error)
	// IncrementalFrom names an older backup of the same volume whose restored
	// image the target holds: only changed blocks are written and blocks
	// removed since are zeroed.
	IncrementalFrom string
	// Progress, when set, is called after each block object is done, from one
	// goroutine at a time.
	Progress func(Progress)
	// BackingImage is the file of the Longhorn backing image the volume was
	// created from (volume.cfg BackingImageName), laid down before the blocks and
	// checked against BackingImageChecksum. Refused for a volume without one.
	// Default "": for a volume on a backing image, the image's own backup in
	// the same store is laid down instead (refused when the store has none).
	BackingImage string

	// onRecordFlush is told how many objects the progress record lists durably after
	// each flush (tests; see record.onFlush).
	onRecordFlush func(durable int)
	// baseLaid: a backing image is on the target (set by Restore).
	baseLaid bool
}

// Progress is a snapshot of a running restore or verify.
type Progress struct {
	Blocks, TotalBlocks int   // block offsets done / to do
	Bytes, TotalBytes   int64 // their logical bytes
}

// Summary is the result of a completed restore.
type Summary struct {
	Backup      string // bak://<volume>/<backup>
	Target      string
	VolumeSize  int64
	Blocks      int   // block offsets written (changed ones for an incremental)
	Objects     int   // distinct block objects fetched in this run
	Resumed     int   // objects skipped because an interrupted run restored them
	Bytes       int64 // logical bytes of the blocks restored
	Written     int64 // bytes written (all-zero blocks on a fresh target skipped)
	ZeroedBytes int64 // bytes zeroed (removed blocks, or unlisted regions of a device)
	Duration    time.Duration
}

// MBps is the restore throughput in MB/s of logical block data.
func (s Summary) MBps() float64 { return mbps(s.Bytes, s.Duration) }

func mbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / 1e6 / d.Seconds()
}

func defaultConcurrency(blockSize int64) int {
	if blockSize > backupstore.BlockSize2Mi {
		return 2
	}
	return max(4, 2*runtime.GOMAXPROCS(0))
}

// batchedConcurrency is Options.BatchChecksums' default: two batches of
// fetches for 2 MiB blocks where checksums are hashed in batches, so one
// batch is hashed while the next fills.
func batchedConcurrency(blockSize int64) int {
	if blockSize > backupstore.BlockSize2Mi || !batchsha.Vectorized() {
		return defaultConcurrency(blockSize)
	}
	return max(defaultConcurrency(blockSize), 2*batchsha.Lanes)
}

// Restore writes the image of bak://volume/backup to target (a regular file,
// created sparse, or a block device). It returns only when every block is
// written and synced; on error the image is incomplete and a progress record
// is left beside a file target for Resume.
func Restore(ctx context.Context, st *backupstore.Store, volume, backup, targetPath string, o Options) (Summary, error) {
	start := time.Now()
	r, err := Resolve(ctx, st, Reference{Volume: volume, Backup: backup})
	if err != nil {
		return Summary{}, err
	}
	// A volume on a backing image is restored in full: laying the base again
	// would overwrite the blocks a resumed restore kept. Resume with Force (the
	// populator's "resume when you can") therefore starts over instead of
	// failing; --resume alone is still refused by chooseBase.
	fullOnly := r.Volume.BackingImageName != "" && o.Resume && o.Force
	if fullOnly {
		o.Resume = false
	}
	storeBase, err := chooseBase(ctx, st, r, o)
	if err != nil {
		return Summary{}, err
	}
	var old *backupstore.Backup
	if o.IncrementalFrom != "" {
		if old, err = loadOlder(ctx, st, r, o.IncrementalFrom); err != nil {
			return Summary{}, err
		}
	}
	p := planRestore(r.Backup, old)
	hdr := RecordHeader{Version: 1, Backup: r.Ref.Handle(), VolumeSize: r.Volume.Size, BlockSize: r.Backup.BlockSize, IncrementalFrom: o.IncrementalFrom}
	store := o.Record
	if store == nil {
		store = FileRecord(targetPath + RecordSuffix)
	}
	objects := planObjects(p)
	done, err := store.Load(hdr, objects)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		done = nil
	case err != nil && !o.Force:
		return Summary{}, err
	case err != nil:
		if o.RecordDiscarded != nil {
			o.RecordDiscarded(err)
		}
		done = nil
	case !o.Resume && !o.Force:
		return Summary{}, fmt.Errorf("found the progress record %s of an interrupted restore; add --resume to continue it or --force to start over", store)
	case !o.Resume:
		if fullOnly && done != nil && o.RecordDiscarded != nil {
			o.RecordDiscarded(fmt.Errorf("volume %q is on backing image %q, which a resumed restore would lay over the blocks already written; expected a full restore",
				r.Volume.Name, r.Volume.BackingImageName))
		}
		done = nil // --force: start over
	}
	if _, serr := os.Stat(targetPath); done != nil && errors.Is(serr, fs.ErrNotExist) {
		done = nil // the target is gone: what the record lists is lost with it
	}
	t, err := openTarget(targetPath, targetMode{size: r.Volume.Size, force: o.Force, incremental: old != nil, resuming: done != nil})
	if err != nil {
		return Summary{}, err
	}
	defer t.close()
	t.openDirect()
	baseWritten, err := layChosenBase(ctx, st, r, o, storeBase, t)
	if err != nil {
		return Summary{}, err
	}
	o.baseLaid = o.BackingImage != "" || storeBase != nil
	if err := store.Begin(hdr, objects, done != nil); err != nil {
		return Summary{}, err
	}
	rec := newRecord(store, t.f)
	rec.onFlush = o.onRecordFlush
	sum := Summary{Backup: r.Ref.Handle(), Target: targetPath, VolumeSize: r.Volume.Size, Written: baseWritten}
	if err := run(ctx, st, r, p, t, rec, done, o, &sum); err != nil {
		if cerr := rec.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return Summary{}, err
	}
	if err := t.f.Sync(); err != nil {
		_ = rec.close()
		return Summary{}, fmt.Errorf("sync target %s: %w", targetPath, err)
	}
	if err := rec.remove(); err != nil {
		return Summary{}, err
	}
	sum.Duration = time.Since(start)
	return sum, nil
}

func loadOlder(ctx context.Context, st *backupstore.Store, r *Resolved, name string) (*backupstore.Backup, error) {
	old, err := st.Backup(ctx, r.Volume, name)
	if err != nil {
		return nil, fmt.Errorf("incremental restore: %w", err)
	}
	if old.InProgress() {
		return nil, fmt.Errorf("incremental restore from %s: %w", Reference{Volume: r.Volume.Name, Backup: name}.Handle(), backupstore.ErrInProgress)
	}
	if old.BlockSize != r.Backup.BlockSize {
		return nil, fmt.Errorf("incremental restore: %s has %d-byte blocks but %s has %d-byte blocks; restore in full instead",
			Reference{Volume: r.Volume.Name, Backup: name}.Handle(), old.BlockSize, r.Ref.Handle(), r.Backup.BlockSize)
	}
	return old, nil
}

// run executes the plan: zero what must be zeroed, then fetch, verify and
// write each block object with a bounded worker pool.
func run(ctx context.Context, st *backupstore.Store, r *Resolved, p plan, t *target, rec *record, done map[string]bool, o Options, sum *Summary) error {
	bs := r.Backup.BlockSize
	zero := p.zero
	if !t.fresh && o.IncrementalFrom == "" && !o.baseLaid { // the base covers what is unlisted
		zero = unlisted(r.Backup, r.Volume.Size)
	}
	for _, e := range zero {
		if err := t.zero(e.off, e.len); err != nil {
			return err
		}
		sum.ZeroedBytes += e.len
	}
	conc := o.Concurrency
	switch {
	case conc > 0:
	case o.BatchChecksums:
		conc = batchedConcurrency(bs)
	default:
		conc = defaultConcurrency(bs)
	}
	pool := newBufPool(conc)
	prog := progressTracker{fn: o.Progress, total: Progress{TotalBlocks: p.blocks, TotalBytes: int64(p.blocks) * bs}}
	// What an interrupted run wrote counts at once; the rest is fetched.
	var todo []group
	for _, grp := range p.groups {
		if done[grp.checksum] {
			sum.Resumed++
			prog.add(len(grp.offsets), bs)
			continue
		}
		todo = append(todo, grp)
	}
	slots := announceSlots(conc, len(todo))
	defer slots.close()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, grp := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			buf := pool.get(bs)
			defer pool.put(buf)
			err := fetchBlock(gctx, st, r.Ref.Handle(), r.Backup, grp, buf)
			slots.fetched()
			if err != nil {
				return err
			}
			written, zeroed, err := writeBlock(t, grp, buf.block)
			if err != nil {
				return &backupstore.BlockError{Backup: r.Ref.Handle(), Offsets: grp.offsets, Path: t.path, Err: err}
			}
			if err := rec.add(grp.checksum); err != nil {
				return err
			}
			mu.Lock()
			sum.Objects++
			sum.Written += written
			sum.ZeroedBytes += zeroed
			mu.Unlock()
			prog.add(len(grp.offsets), bs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sum.Blocks = p.blocks
	sum.Bytes = int64(p.blocks) * bs
	return nil
}

// writeBlock writes one verified block at each of its offsets. An all-zero
// block is skipped on a fresh target and zeroed (hole punched) otherwise.
func writeBlock(t *target, g group, block []byte) (written, zeroed int64, err error) {
	z := isZero(block)
	for _, off := range g.offsets {
		switch {
		case z && t.fresh:
		case z:
			if err := t.zero(off, int64(len(block))); err != nil {
				return written, zeroed, err
			}
			zeroed += int64(len(block))
		default:
			if err := t.writeAt(block, off); err != nil {
				return written, zeroed, fmt.Errorf("write target: %w", err)
			}
			written += int64(len(block))
		}
	}
	return written, zeroed, nil
}

// progressTracker serializes Progress callbacks.
type progressTracker struct {
	mu    sync.Mutex
	fn    func(Progress)
	total Progress
}

func (p *progressTracker) add(blocks int, blockSize int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total.Blocks += blocks
	p.total.Bytes += int64(blocks) * blockSize
	if p.fn != nil {
		p.fn(p.total)
	}
}
