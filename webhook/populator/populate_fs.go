package populator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/restore/fsread"
)

// markerName is created in a Filesystem volume while files are copied into it:
// a retried pod finding it knows the content is its own partial copy and
// resumes it (fsread.ExtractOptions.Resume); a volume with other content and
// no marker is refused.
const markerName = ".snaprestore-populating"

// ErrVolumeTooSmall: the files of the backup do not fit the volume.
var ErrVolumeTooSmall = errors.New("volume too small for the backup's files")

// ErrTargetNotEmpty: the Filesystem volume holds files the populator did not write.
var ErrTargetNotEmpty = errors.New("target volume is not empty")

// populateFiles copies the ext2/3/4 filesystem inside the backup into dir,
// reading only the blocks its files use (restore.OpenReader). An unsupported
// filesystem (xfs, LUKS, ...) fails before anything is written. A copy an
// earlier pod left (the marker) is resumed: the files it completed are kept.
func populateFiles(ctx context.Context, st *restore.Store, ref restore.Reference, o PopulateOptions) (Result, error) {
	r, err := restore.OpenReader(ctx, st.Store, ref.Volume, ref.Backup, restore.ReaderOptions{Concurrency: o.Concurrency, Sequential: true, BatchChecksums: true})
	if err != nil {
		return Result{}, err
	}
	fsys, err := fsread.Open(r, r.Size())
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w; volumeMode: Filesystem needs an ext2/3/4 volume (restore others with volumeMode: Block)", ref.Handle(), err)
	}
	resume, err := prepareDir(o.Dir)
	if err != nil {
		return Result{}, err
	}
	// The marker is written only after this check passed on the empty
	// volume; with a partial copy present the free space no longer says
	// whether the rest fits, and the copy itself fails if it does not.
	if free, err := freeBytes(o.Dir); err == nil && !resume && fsys.UsedBytes() > free {
		return Result{}, fmt.Errorf("%w: the files of %s use %d bytes, %s has %d bytes free; expected a PVC request of at least %d bytes more",
			ErrVolumeTooSmall, ref.Handle(), fsys.UsedBytes(), o.Dir, free, fsys.UsedBytes()-free)
	}
	marker := filepath.Join(o.Dir, markerName)
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return Result{}, fmt.Errorf("mark %s: %w", o.Dir, err)
	}
	if resume {
		o.Logf("resuming the partial copy an interrupted populate left in %s (%s): files already complete are kept", o.Dir, markerName)
	}
	start := time.Now()
	sum, err := fsread.Extract(ctx, fsys, "/", o.Dir, fsread.ExtractOptions{Resume: resume, Writeback: true, Progress: func(p fsread.ExtractProgress) {
		if o.Progress != nil {
			o.Progress(restore.Progress{Blocks: p.Files, Bytes: p.Bytes, TotalBytes: max(p.UsedBytes, p.Bytes)})
		}
	}})
	if err != nil {
		return Result{}, fmt.Errorf("copy the files of %s to %s: %w", ref.Handle(), o.Dir, err)
	}
	// The files must be on the volume before the marker goes: a crash in
	// between then leaves either the marker (the next pod resumes) or a
	// complete copy, never a partial copy that looks finished.
	if err := syncFS(o.Dir); err != nil {
		return Result{}, err
	}
	if err := os.Remove(marker); err != nil {
		return Result{}, fmt.Errorf("unmark %s: %w", o.Dir, err)
	}
	if err := syncFS(o.Dir); err != nil {
		return Result{}, err
	}
	msg := fmt.Sprintf("copied and verified the files of %s: %d files, %d directories, %d symlinks, %d hard links, %d bytes in %s",
		r.Handle(), sum.Files, sum.Dirs, sum.Symlinks, sum.HardLinks, sum.Bytes, time.Since(start).Round(time.Millisecond))
	if sum.Skipped > 0 {
		o.Logf("resumed: %d of %d files were copied by an earlier pod", sum.Skipped, sum.Skipped+sum.Files)
		msg += fmt.Sprintf(", resumed: %d files were already copied", sum.Skipped)
	}
	for _, w := range sum.Warnings {
		msg += "; warning: " + w
	}
	return Result{Succeeded: true, Backup: r.Handle(), VolumeSize: r.Size(), Bytes: sum.Bytes, Resumed: sum.Skipped, Message: msg}, nil
}

// prepareDir reports whether dir holds the populator's own partial copy (the
// marker: resume it), accepts an empty one (lost+found aside) and refuses
// anything else.
func prepareDir(dir string) (resume bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("target directory: %w", err)
	}
	ours := false
	var others []string
	for _, e := range entries {
		switch e.Name() {
		case markerName:
			ours = true
		case "lost+found":
		default:
			others = append(others, e.Name())
		}
	}
	if ours || len(others) == 0 {
		return ours, nil
	}
	return false, fmt.Errorf("%w: %s holds %q and %d more entries and no %s marker; expected the new, empty volume of a prime PVC",
		ErrTargetNotEmpty, dir, others[0], len(others)-1, markerName)
}

func freeBytes(dir string) (int64, error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, err
	}
	return int64(s.Bavail) * int64(s.Bsize), nil
}

// permanentFS lists the Filesystem-mode errors retrying cannot fix.
var permanentFS = []error{fsread.ErrUnsupported, fsread.ErrCorrupt, fsread.ErrUnsafePath, ErrVolumeTooSmall, ErrTargetNotEmpty, backupstore.ErrChecksumMismatch}

// syncFS flushes the whole filesystem holding dir (syncfs(2)): one call for
// every file the copy wrote, as `sync -f` does.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync the files copied to %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync the files copied to %s: %w", dir, err)
	}
	return nil
}
