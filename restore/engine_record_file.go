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

	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// RecordSuffix is appended to the target path to name the progress record of
// a restore: a header line, then one line per block object whose writes are
// durable. It exists while a restore runs or after it was interrupted.
const RecordSuffix = ".snaprestore-progress"

// fileRecord is the default RecordStore: the file target+RecordSuffix.
type fileRecord struct {
	path string
	f    *os.File
}

// FileRecord is the RecordStore `snaprestore restore --resume` uses: the file
// path, a JSON header line and one checksum line per finished block object.
func FileRecord(path string) RecordStore { return &fileRecord{path: path} }

func (r *fileRecord) String() string { return r.path }

// Load reads the record; a torn last line (a kill during append) is ignored.
func (r *fileRecord) Load(want RecordHeader, _ []string) (map[string]bool, error) {
	data, err := os.ReadFile(r.path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("progress record %s: empty; delete it and restore with --force", r.path)
	}
	var h RecordHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		return nil, fmt.Errorf("progress record %s: unreadable header: %v; delete it and restore with --force", r.path, err)
	}
	if h != want {
		return nil, fmt.Errorf("progress record %s belongs to a restore of %s (incremental from %q, %d bytes); expected %s (incremental from %q, %d bytes)",
			r.path, h.Backup, h.IncrementalFrom, h.VolumeSize, want.Backup, want.IncrementalFrom, want.VolumeSize)
	}
	done := map[string]bool{}
	for sc.Scan() {
		if line := sc.Text(); backupstore.ValidateChecksum(line) == nil {
			done[line] = true
		}
	}
	return done, nil
}

// Begin writes a new record with its header durably, or reopens the loaded
// one for appending.
func (r *fileRecord) Begin(h RecordHeader, _ []string, resume bool) error {
	if resume {
		f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("progress record: %w", err)
		}
		// Terminate a torn line so the next entry starts on its own line.
		if _, err := f.Write([]byte{'\n'}); err != nil {
			f.Close()
			return fmt.Errorf("progress record %s: %w", r.path, err)
		}
		r.f = f
		return nil
	}
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(r.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("progress record: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(filepath.Dir(r.path))
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("progress record %s: %w", r.path, err)
	}
	r.f = f
	return nil
}

// Append writes one line per object and syncs the file.
func (r *fileRecord) Append(done []string) error {
	if _, err := r.f.Write(checksumLines(done)); err != nil {
		return fmt.Errorf("progress record %s: %w", r.path, err)
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("progress record %s: %w", r.path, err)
	}
	return nil
}

func (r *fileRecord) Close() error { return r.f.Close() }

func (r *fileRecord) Remove() error {
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

// checksumLines is the file record's body for entries.
func checksumLines(entries []string) []byte {
	var buf bytes.Buffer
	for _, c := range entries {
		buf.WriteString(c)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
