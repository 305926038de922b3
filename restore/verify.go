package restore

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Concurrency as in Options; same default.
	Concurrency int
	// Progress as in Options.
	Progress func(Progress)
}

// Report is the result of a verification.
type Report struct {
	Backup     string
	VolumeSize int64
	Blocks     int   // block offsets listed
	Objects    int   // distinct block objects checked
	Bytes      int64 // logical bytes checked
	// Problems lists every bad block object, by first offset; each is a
	// *backupstore.BlockError wrapping ErrChecksumMismatch, ErrCorruptBlock,
	// ErrBlockMissing or a read error.
	Problems []*backupstore.BlockError
	Duration time.Duration
}

// OK reports whether every block was intact.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// MBps is the verification throughput in MB/s of logical block data.
func (r Report) MBps() float64 { return mbps(r.Bytes, r.Duration) }

// Verify fetches, decompresses and checks every block of a backup and writes
// nothing. Block problems are collected in the report; the error is for
// problems that stop the verification (config, cancellation).
func Verify(ctx context.Context, st *backupstore.Store, volume, backup string, o VerifyOptions) (Report, error) {
	start := time.Now()
	r, err := Resolve(ctx, st, Reference{Volume: volume, Backup: backup})
	if err != nil {
		return Report{}, err
	}
	p := planRestore(r.Backup, nil)
	bs := r.Backup.BlockSize
	conc := o.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency(bs)
	}
	rep := Report{Backup: r.Ref.Handle(), VolumeSize: r.Volume.Size, Blocks: p.blocks, Objects: len(p.groups), Bytes: int64(p.blocks) * bs}
	pool := newBufPool(conc)
	prog := progressTracker{fn: o.Progress, total: Progress{TotalBlocks: p.blocks, TotalBytes: rep.Bytes}}
	slots := announceSlots(conc, len(p.groups))
	defer slots.close()
	var mu sync.Mutex
	g := new(errgroup.Group)
	g.SetLimit(conc)
	for _, grp := range p.groups {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			buf := pool.get(bs)
			defer pool.put(buf)
			err := fetchBlock(ctx, st, r.Ref.Handle(), r.Backup, grp, buf)
			slots.fetched()
			if err != nil && ctx.Err() == nil {
				var be *backupstore.BlockError
				if errors.As(err, &be) {
					mu.Lock()
					rep.Problems = append(rep.Problems, be)
					mu.Unlock()
				}
			}
			prog.add(len(grp.offsets), bs)
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].Offsets[0] < rep.Problems[j].Offsets[0] })
	rep.Duration = time.Since(start)
	return rep, nil
}
