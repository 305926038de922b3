package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/snaprestore/snaprestore/restore/fsread"
)

// filesCpOptions are the flags of `snaprestore files cp`.
type filesCpOptions struct {
	volumeOptions
	Paths     []string // arguments before DEST
	Dest      string   // last argument
	Recursive bool     // -r
}

func newFilesCpCmd() *cobra.Command {
	o := &filesCpOptions{}
	cmd := &cobra.Command{
		Use:   "cp REFERENCE PATH... DEST [-r]",
		Short: "Copy files or trees out of a backup, preserving mode, owner, times, links and xattrs",
		Long: `Copy PATH (a file, a symlink, or with -r a directory) out of the backup. With
one PATH, DEST is the copy's name unless it is an existing directory; with
several, DEST must be a directory and each PATH lands in it under its base name.

Mode, times, symlinks (never followed), hard links and user.* xattrs are kept;
the owner too when run as root (otherwise one warning). Nothing is ever
written outside DEST, whatever names or symlinks the backup holds.`,
		Example: `  snaprestore files cp vol-data/backup-1c0e4b2f9a7d6835 /etc/app/config.yaml ./config.yaml --backupstore file:///mnt/backups
  snaprestore files cp vol-data/backup-1c0e4b2f9a7d6835 /var/lib/app /srv/recovered -r --backupstore file:///mnt/backups`,
		Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Reference, o.Paths, o.Dest = args[0], args[1:len(args)-1], args[len(args)-1]
			if err := o.Validate(); err != nil {
				return err
			}
			return runFilesCp(cmd, o)
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&o.Recursive, "recursive", "r", false, "copy directories and everything under them")
	return cmd
}

func runFilesCp(cmd *cobra.Command, o *filesCpOptions) error {
	v, err := openVolume(cmd, &o.volumeOptions)
	if err != nil {
		return err
	}
	destDir := false
	if st, err := os.Stat(o.Dest); err == nil && st.IsDir() {
		destDir = true
	} else if len(o.Paths) > 1 {
		return fmt.Errorf("copying %d paths: DEST %s must be an existing directory", len(o.Paths), o.Dest)
	}
	var total fsread.ExtractSummary
	for _, p := range o.Paths {
		e, err := v.fs.Lstat(p)
		if err != nil {
			return v.pathError(p, err)
		}
		if e.Mode.IsDir() && !o.Recursive {
			return fmt.Errorf("%s in %s is a directory; add -r to copy it and everything under it", e.Path, v.handle)
		}
		dest := o.Dest
		if destDir {
			dest = filepath.Join(o.Dest, path.Base(e.Path))
			if e.Path == "/" {
				dest = o.Dest
			}
		}
		sum, err := fsread.Extract(cmd.Context(), v.fs, e.Path, dest, fsread.ExtractOptions{})
		addSummary(&total, sum)
		if err != nil {
			return fmt.Errorf("%s: %w", v.handle, err)
		}
	}
	printExtractSummary(cmd.ErrOrStderr(), "copied", v, total)
	return nil
}

func addSummary(t *fsread.ExtractSummary, s fsread.ExtractSummary) {
	t.Files += s.Files
	t.Dirs += s.Dirs
	t.Symlinks += s.Symlinks
	t.HardLinks += s.HardLinks
	t.Special += s.Special
	t.Bytes += s.Bytes
	t.Duration += s.Duration
	for _, w := range s.Warnings {
		t.Warnings = append(t.Warnings, w)
	}
}

func printExtractSummary(w io.Writer, verb string, v *openedVolume, s fsread.ExtractSummary) {
	for _, msg := range s.Warnings {
		fmt.Fprintln(w, "warning:", msg)
	}
	st := v.reader.Stats()
	fmt.Fprintf(w, "%s %s, %s, %s, %s (%s) from %s in %s; %d block objects fetched (%s)\n",
		verb, plural(s.Files, "file", "files"), plural(s.Dirs, "directory", "directories"), plural(s.Symlinks, "symlink", "symlinks"),
		plural(s.HardLinks, "hard link", "hard links"), humanBytes(s.Bytes), v.handle, s.Duration.Round(time.Millisecond),
		st.Objects, humanBytes(st.FetchedBytes))
}

// restoreFilesMemoryLimit is the Go heap goal of restore --files: the default
// 64 MiB block cache (less what the fetches ahead hold), those fetches and the
// copy buffer fit in it, a live heap of about 64 MiB. 100 MiB let the process
// reach 137 MiB of RSS; 80 MiB costs no measurable time.
const restoreFilesMemoryLimit = 80 << 20

// runRestoreFiles is `snaprestore restore REF --files --to DIR`: the whole
// filesystem into DIR (created when missing; an existing one must be empty
// but for lost+found), after checking that the used bytes fit.
func runRestoreFiles(cmd *cobra.Command, o *restoreOptions) error {
	v, err := openVolume(cmd, &volumeOptions{Reference: o.Reference, Backupstore: o.Backupstore, CacheSize: o.CacheSize, Partition: o.Partition, sequential: true})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.To, 0o755); err != nil {
		return fmt.Errorf("--to %s: %w", o.To, err)
	}
	if ents, err := os.ReadDir(o.To); err != nil {
		return fmt.Errorf("--to %s: %w", o.To, err)
	} else if !o.Force && (len(ents) > 1 || len(ents) == 1 && ents[0].Name() != "lost+found") {
		return fmt.Errorf("--to %s is not empty (%d entries); expected an empty directory, or --force to merge into it (existing files are never overwritten)", o.To, len(ents))
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(o.To, &sfs); err == nil {
		if free := int64(sfs.Bavail) * sfs.Bsize; free < v.fs.UsedBytes() {
			return fmt.Errorf("--to %s has %s free; the filesystem in %s uses %s; expected at least that much free space",
				o.To, humanBytes(free), v.handle, humanBytes(v.fs.UsedBytes()))
		}
	}
	// The live heap is the block cache plus one copy buffer; without a limit
	// the collector lets garbage (directory and inode reads) double it. An
	// explicit GOMEMLIMIT wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(restoreFilesMemoryLimit)
	}
	pr := &extractProgress{out: cmd.ErrOrStderr(), start: time.Now()}
	sum, err := fsread.Extract(cmd.Context(), v.fs, "/", o.To, fsread.ExtractOptions{Progress: pr.update})
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", v.handle, err)
	}
	if err != nil {
		return fmt.Errorf("restore --files of %s to %s incomplete: %w", v.handle, o.To, err)
	}
	printExtractSummary(cmd.OutOrStdout(), "restored", v, sum)
	return nil
}

// extractProgress prints a line at each 10% of the filesystem's used bytes
// written, at most every 2 s.
type extractProgress struct {
	out     io.Writer
	start   time.Time
	last    time.Time
	lastPct int
}

func (p *extractProgress) update(x fsread.ExtractProgress) {
	pct := 100
	if x.UsedBytes > 0 {
		pct = int(min(x.Bytes*100/x.UsedBytes, 100))
	}
	if pct/10 == p.lastPct/10 || time.Since(p.last) < 2*time.Second {
		return
	}
	fmt.Fprintf(p.out, "restore --files: %d files, %s of at most %s (%.1f MB/s)\n", x.Files, humanBytes(x.Bytes), humanBytes(x.UsedBytes),
		float64(x.Bytes)/1e6/max(time.Since(p.start).Seconds(), 1e-3))
	p.last, p.lastPct = time.Now(), pct
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
