package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/snaprestore/snaprestore/restore"
)

// restoreOptions are the flags of `snaprestore restore`.
type restoreOptions struct {
	Reference       string   // argument
	Backupstore     string   // --backupstore; optional when the reference carries one
	To              string   // --to, required
	Force           bool     // --force
	Resume          bool     // --resume
	IncrementalFrom string   // --incremental-from: older backup name (or reference of the same volume)
	Concurrency     int      // --concurrency; 0 = engine default
	Files           bool     // --files: copy the filesystem's files into the directory --to
	CacheSize       byteSize // --cache-size (with --files); default 64 MiB
	Partition       int      // --partition (with --files); 0 = the whole volume
	BackingImage    string   // --backing-image: the volume's Longhorn backing image file
}

func (o *restoreOptions) Validate() error {
	if o.To == "" {
		return errors.New("--to is required: the file or block device to restore into")
	}
	if o.Concurrency < 0 {
		return fmt.Errorf("--concurrency %d; expected a positive number", o.Concurrency)
	}
	if strings.HasPrefix(o.Reference, "bi://") && (o.Files || o.Resume || o.IncrementalFrom != "" || o.BackingImage != "") {
		return errors.New("a bi:// handle restores the backing image's own backup to an image file; --files, --resume, --incremental-from and --backing-image do not apply")
	}
	if o.Files && o.BackingImage != "" {
		return errors.New("--backing-image applies to block images only; --files cannot read a backing image yet: restore the image, then mount it")
	}
	if o.Files && (o.Resume || o.IncrementalFrom != "") {
		return errors.New("--files copies files into a directory; --resume and --incremental-from apply to block images only")
	}
	if !o.Files && (o.Partition != 0 || o.CacheSize != restore.DefaultCacheBytes) {
		return errors.New("--partition and --cache-size apply with --files only (a block restore writes the whole volume)")
	}
	if o.Files {
		return (&volumeOptions{CacheSize: o.CacheSize, Partition: o.Partition}).Validate()
	}
	return nil
}

func newRestoreCmd() *cobra.Command {
	o := &restoreOptions{CacheSize: restore.DefaultCacheBytes}
	cmd := &cobra.Command{
		Use:   "restore REFERENCE --backupstore URL --to PATH",
		Short: "Restore a Longhorn backup into a file or block device, without Longhorn",
		Long: `Restore a backup into PATH: a regular file (created sparse, at the volume size)
or a block device. Every block is checksummed before it is written; nothing is
written to the backupstore. A non-empty target is refused without --force.

An interrupted restore (even kill -9) leaves PATH.snaprestore-progress; run the
same command with --resume to continue it. --incremental-from OLD restores onto
PATH holding the image of the older backup OLD of the same volume, writing only
changed blocks and zeroing removed ones. A volume created from a Longhorn backing
image needs that image as its base (the backup holds only what the volume wrote
on top of it): --backing-image FILE, or else the image's own backup in the same
backupstore, laid down first and checked against its SHA-512.

With --files, PATH is a directory (created when missing, otherwise empty but
for lost+found): the files of the ext2/3/4 filesystem in the backup are copied
into it with mode, owner (as root), times, symlinks, hard links and xattrs,
after checking that the filesystem's used bytes fit.

REFERENCE is bak://<volume>/<backup>, bs://<volume>/<backup>, <volume>/<backup>
or a Longhorn UI backup URL (which names its own backupstore). A
bi://backing?backingImage=<name>&backingImageDataSourceType=<type> handle restores
the backup of that backing image alone into PATH (an image file of its size).`,
		Example: `  snaprestore restore vol-data/backup-1c0e4b2f9a7d6835 --backupstore file:///mnt/backups --files --to /srv/restored
  snaprestore restore bak://vol-data/backup-1c0e4b2f9a7d6835 --backupstore file:///mnt/backups --to data.img
  snaprestore restore vol-data/backup-a94d0f6e2b1c7358 --backupstore file:///mnt/backups --to data.img \
      --incremental-from backup-1c0e4b2f9a7d6835`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Reference = args[0]
			if err := o.Validate(); err != nil {
				return err
			}
			if o.Files {
				return runRestoreFiles(cmd, o)
			}
			return runRestore(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Backupstore, "backupstore", "", backupstoreUsage)
	f.StringVar(&o.To, "to", "", "target file (created sparse) or block device")
	f.BoolVar(&o.Force, "force", false, "overwrite a non-empty target, or discard the progress record of an interrupted restore")
	f.BoolVar(&o.Resume, "resume", false, "continue an interrupted restore from PATH.snaprestore-progress")
	f.StringVar(&o.IncrementalFrom, "incremental-from", "", "older backup of the same volume whose image PATH holds; write only the changes")
	f.StringVar(&o.BackingImage, "backing-image", "", "file of the Longhorn backing image the volume was created from (volume.cfg BackingImageName); laid down first and checked against its SHA-512")
	f.Var(&o.CacheSize, "cache-size", "with --files: "+cacheSizeUsage)
	f.IntVar(&o.Partition, "partition", 0, "with --files: the filesystem of partition N of the volume's GPT or MBR table")
	f.BoolVar(&o.Files, "files", false, "copy the files of the ext2/3/4 filesystem in the backup into the directory --to (mode, owner, times, links, xattrs kept)")
	f.IntVar(&o.Concurrency, "concurrency", 0, "blocks fetched and written at once (default: 2 per CPU, at least 4; 2 for 16 MiB blocks; 16 lets an AVX-512 CPU hash their checksums eight at a time, at about twice the memory)")
	return cmd
}

func runRestore(cmd *cobra.Command, o *restoreOptions) error {
	if strings.HasPrefix(o.Reference, "bi://") {
		return runRestoreBackingImage(cmd, o)
	}
	ref, storeURL, err := resolveReference(o.Reference, o.Backupstore)
	if err != nil {
		return err
	}
	from := o.IncrementalFrom
	if strings.Contains(from, "/") {
		old, err := restore.ParseReference(from)
		if err != nil {
			return fmt.Errorf("--incremental-from: %w", err)
		}
		if old.Volume != ref.Volume {
			return fmt.Errorf("--incremental-from %s is a backup of volume %q; expected a backup of %q", from, old.Volume, ref.Volume)
		}
		from = old.Backup
	}
	st, err := openStore(storeURL)
	if err != nil {
		return err
	}
	pr := newProgressPrinter(cmd.ErrOrStderr(), "restore")
	sum, err := restore.Restore(cmd.Context(), st.Store, ref.Volume, ref.Backup, o.To, restore.Options{
		Concurrency: o.Concurrency, Force: o.Force, Resume: o.Resume, IncrementalFrom: from, Progress: pr.update,
		BackingImage: o.BackingImage})
	pr.finish()
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("restore of %s interrupted; the image is incomplete; run the same command with --resume to continue (progress is in %s)",
			ref.Handle(), o.To+restore.RecordSuffix)
	}
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d blocks (%s)", sum.Blocks, humanBytes(sum.Bytes))
	if from != "" {
		what = fmt.Sprintf("%d changed blocks (%s), %s zeroed, incremental from %s", sum.Blocks, humanBytes(sum.Bytes), humanBytes(sum.ZeroedBytes), from)
	}
	if sum.Resumed > 0 {
		what += fmt.Sprintf(", %d objects already restored before the interruption", sum.Resumed)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "restored %s to %s: %s volume, %s, %d objects fetched, %s written in %s (%.1f MB/s)\n",
		sum.Backup, sum.Target, humanBytes(sum.VolumeSize), what, sum.Objects, humanBytes(sum.Written),
		sum.Duration.Round(time.Millisecond), sum.MBps())
	return nil
}

// progressPrinter shows restore/verify progress: a bar redrawn in place on a
// terminal, a plain line every 10% (at most every 2 s) otherwise.
type progressPrinter struct {
	mu       sync.Mutex
	out      io.Writer
	verb     string
	files    bool // Progress.Blocks counts files, with no total (populate --dir)
	tty      bool
	start    time.Time
	last     time.Time
	lastPct  int
	drawn    bool
	lastSeen restore.Progress
}

func newProgressPrinter(out io.Writer, verb string) *progressPrinter {
	tty := false
	if f, ok := out.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressPrinter{out: out, verb: verb, tty: tty, start: time.Now(), lastPct: -1}
}

func (p *progressPrinter) update(pr restore.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastSeen = pr
	pct := 100
	if pr.TotalBytes > 0 {
		pct = int(pr.Bytes * 100 / pr.TotalBytes)
	}
	now := time.Now()
	rate := float64(pr.Bytes) / 1e6 / max(now.Sub(p.start).Seconds(), 1e-3)
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && pr.Blocks != pr.TotalBlocks {
			return
		}
		const width = 30
		bar := strings.Repeat("#", pct*width/100) + strings.Repeat(".", width-pct*width/100)
		fmt.Fprintf(p.out, "\r%s [%s] %3d%% %s %.1f MB/s", p.verb, bar, pct, p.count(pr), rate)
		p.drawn, p.last = true, now
		return
	}
	if pct/10 == p.lastPct/10 && now.Sub(p.last) < 2*time.Second {
		return
	}
	fmt.Fprintf(p.out, "%s: %d%% (%s, %s of %s, %.1f MB/s)\n", p.verb, pct, p.count(pr),
		humanBytes(pr.Bytes), humanBytes(pr.TotalBytes), rate)
	p.lastPct, p.last = pct, now
}

// count is the progress in the printer's unit: blocks of a total, or the
// files copied so far (a Filesystem copy knows its bytes, not its files).
func (p *progressPrinter) count(pr restore.Progress) string {
	if p.files {
		return fmt.Sprintf("%d files", pr.Blocks)
	}
	return fmt.Sprintf("%d/%d blocks", pr.Blocks, pr.TotalBlocks)
}

func (p *progressPrinter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.out)
	}
}

// runRestoreBackingImage restores a backing image's own backup (a bi:// handle).
func runRestoreBackingImage(cmd *cobra.Command, o *restoreOptions) error {
	h, err := restore.ParseHandle(o.Reference)
	if err != nil {
		return err
	}
	if o.Backupstore == "" {
		return errors.New("--backupstore is required with a bi:// handle (file:///path, vfs:///path or s3://bucket@region/[path])")
	}
	st, err := openStore(o.Backupstore)
	if err != nil {
		return err
	}
	sum, err := restore.RestoreBackingImage(cmd.Context(), st.Store, h.BackingImage, o.To, restore.Options{Force: o.Force})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "restored %s to %s: %s image, %d blocks, %s written in %s (%.1f MB/s)\n",
		sum.Backup, sum.Target, humanBytes(sum.VolumeSize), sum.Blocks, humanBytes(sum.Written),
		sum.Duration.Round(time.Millisecond), sum.MBps())
	return nil
}
