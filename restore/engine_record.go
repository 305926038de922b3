package restore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// RecordSuffix is appended to the target path to name the progress record of
// a restore: a header line, then one line per block object whose writes are
// durable. It exists while a restore runs or after it was interrupted.
const RecordSuffix = ".snaprestore-progress"

// recordHeader identifies the restore a record belongs to.
type recordHeader struct {
	Version         int    `json:"version"`
	Backup          string `json:"backup"`
	VolumeSize      int64  `json:"volumeSize"`
	BlockSize       int64  `json:"blockSize"`
	IncrementalFrom string `json:"incrementalFrom,omitempty"`
}

// Records are flushed by a background goroutine after this many completed
// objects or this much time: the target is synced first, so a listed object
// is on disk. Workers never wait for a flush.
const (
	recordFlushEvery = 64
	recordFlushAfter = 2 * time.Second
)

// record is the durable progress of one restore.
type record struct {
	path    string
	target  *os.File
	f       *os.File
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

func newRecord(path string, target, f *os.File) *record {
	r := &record{path: path, target: target, f: f, wake: make(chan struct{}, 1),
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

// loadRecord reads a record; done lists the objects already restored. A torn
// last line (a kill during append) is ignored.
func loadRecord(path string, want recordHeader) (done map[string]bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("progress record %s: empty; delete it and restore with --force", path)
	}
	var h recordHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		return nil, fmt.Errorf("progress record %s: unreadable header: %v; delete it and restore with --force", path, err)
	}
	if h != want {
		return nil, fmt.Errorf("progress record %s belongs to a restore of %s (incremental from %q, %d bytes); expected %s (incremental from %q, %d bytes)",
			path, h.Backup, h.IncrementalFrom, h.VolumeSize, want.Backup, want.IncrementalFrom, want.VolumeSize)
	}
	done = map[string]bool{}
	for sc.Scan() {
		if line := sc.Text(); backupstore.ValidateChecksum(line) == nil {
			done[line] = true
		}
	}
	return done, nil
}

// createRecord writes a new record with its header, durably.
func createRecord(path string, h recordHeader, target *os.File) (*record, error) {
	line, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("progress record: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("progress record %s: %w", path, err)
	}
	return newRecord(path, target, f), nil
}

// appendRecord continues an existing record.
func appendRecord(path string, target *os.File) (*record, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("progress record: %w", err)
	}
	// Terminate a torn line so the next entry starts on its own line.
	if _, err := f.Write([]byte{'\n'}); err != nil {
		f.Close()
		return nil, fmt.Errorf("progress record %s: %w", path, err)
	}
	return newRecord(path, target, f), nil
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

// flush syncs the target, then appends the pending entries durably.
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
	var buf bytes.Buffer
	for _, c := range batch {
		buf.WriteString(c)
		buf.WriteByte('\n')
	}
	if _, err := r.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("progress record %s: %w", r.path, err)
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("progress record %s: %w", r.path, err)
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
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// remove deletes the record after a complete, synced restore.
func (r *record) remove() error {
	r.halt()
	r.f.Close()
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove progress record: %w", err)
	}
	return syncDir(filepath.Dir(r.path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
