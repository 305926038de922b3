package restore

import (
	"fmt"
	"sync"
	"time"
)

// RecordHeader names the restore a progress record describes: a record is
// only ever continued by a restore of the same backup, onto the same base, of
// the same size and block size.
type RecordHeader struct {
	Version         int    `json:"version"`
	Backup          string `json:"backup"`
	VolumeSize      int64  `json:"volumeSize"`
	BlockSize       int64  `json:"blockSize"`
	IncrementalFrom string `json:"incrementalFrom,omitempty"`
}

// RecordStore keeps the progress record of one restore: which of the plan's
// block objects are written to the target and synced. The engine calls Load,
// then Begin, then Append any number of times, then Close (interrupted) or
// Remove (complete). objects are the plan's block objects (checksums) in plan
// order, the same for every run of the same restore. The default is the file
// beside the target (Options.Record nil).
type RecordStore interface {
	// Load returns the objects an earlier run of restore h finished; an error
	// wrapping fs.ErrNotExist when there is no record, another error when the
	// record is unreadable or belongs to another restore.
	Load(h RecordHeader, objects []string) (done map[string]bool, err error)
	// Begin starts recording restore h; resume continues the loaded record,
	// otherwise a new, empty record replaces any old one. Durable on return.
	Begin(h RecordHeader, objects []string, resume bool) error
	// Append adds objects whose writes the target has synced; durable on return.
	Append(done []string) error
	// Close ends an interrupted run, leaving the record for a resume.
	Close() error
	// Remove deletes the record after a complete, synced restore.
	Remove() error
	// String names the record in messages.
	String() string
}

// Records are flushed by a background goroutine after this many completed
// objects or this much time: the target is synced first, so a listed object
// is on disk. Workers never wait for a flush.
const (
	recordFlushEvery = 64
	recordFlushAfter = 2 * time.Second
)

// record batches the completed objects of one restore into its RecordStore.
type record struct {
	store   RecordStore
	target  syncer
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}

	mu      sync.Mutex // guards pending and err
	pending []string
	err     error // first flush error

	flushMu sync.Mutex // serializes flushes
	durable int        // entries appended durably, under flushMu
	// onFlush, when set, is told the number of durable entries after each flush: the
	// seam a test waits on (Options.onRecordFlush). Set before the first add.
	onFlush func(durable int)
}

// syncer is the target's one call a record makes: data before the record.
type syncer interface{ Sync() error }

func newRecord(store RecordStore, target syncer) *record {
	r := &record{store: store, target: target, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go r.flusher()
	return r
}

func (r *record) flusher() {
	defer close(r.stopped)
	t := time.NewTicker(recordFlushAfter)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		case <-r.wake:
		}
		if err := r.flush(); err != nil {
			r.mu.Lock()
			if r.err == nil {
				r.err = err
			}
			r.mu.Unlock()
		}
	}
}

// add notes an object whose writes are issued; the flusher lists it once the
// target has been synced. It returns the first flush error, if any.
func (r *record) add(checksum string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, checksum)
	if len(r.pending) >= recordFlushEvery {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return r.err
}

// flush syncs the target, then appends the pending entries durably: a record
// may lag the data, never lead it.
func (r *record) flush() error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := r.target.Sync(); err != nil {
		return fmt.Errorf("sync target: %w", err)
	}
	if err := r.store.Append(batch); err != nil {
		return err
	}
	r.durable += len(batch)
	if r.onFlush != nil {
		r.onFlush(r.durable)
	}
	return nil
}

func (r *record) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.stopped
}

// close flushes and closes the record, leaving it for a resume.
func (r *record) close() error {
	r.halt()
	err := r.flush()
	if cerr := r.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// remove deletes the record after a complete, synced restore.
func (r *record) remove() error {
	r.halt()
	return r.store.Remove()
}

// planObjects are the checksums of the plan's block objects, in plan order.
func planObjects(p plan) []string {
	out := make([]string, len(p.groups))
	for i, g := range p.groups {
		out[i] = g.checksum
	}
	return out
}
