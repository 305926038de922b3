package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/fsread"
	"github.com/snaprestore/snaprestore/restore/partition"
)

// volumeOptions are the flags every command that reads the filesystem inside
// a backup shares: the backup reference and how the volume is read.
type volumeOptions struct {
	Reference   string   // argument
	Backupstore string   // --backupstore; optional when the reference carries one
	CacheSize   byteSize // --cache-size; default 64 MiB
	Partition   int      // --partition; 0 = the whole volume
	// sequential: the whole filesystem is read (restore --files), so blocks
	// are fetched ahead (restore.ReaderOptions.Sequential).
	sequential bool
}

func (o *volumeOptions) AddFlags(f *pflag.FlagSet) {
	o.CacheSize = restore.DefaultCacheBytes
	f.StringVar(&o.Backupstore, "backupstore", "", backupstoreUsage)
	f.Var(&o.CacheSize, "cache-size", cacheSizeUsage)
	f.IntVar(&o.Partition, "partition", 0, "read the filesystem of partition N of the volume's GPT or MBR table")
}

func (o *volumeOptions) Validate() error {
	if o.Partition < 0 {
		return fmt.Errorf("--partition %d; expected a partition number (1 or more) or 0 for the whole volume", o.Partition)
	}
	return restore.ReaderOptions{CacheBytes: int64(o.CacheSize)}.Validate()
}

// openedVolume is the filesystem inside a backup, read lazily.
type openedVolume struct {
	fs     *fsread.FS
	reader *restore.Reader
	handle string // bak://volume/backup
}

// openVolume resolves the reference, opens a lazy reader over the backup and
// the filesystem inside it.
func openVolume(cmd *cobra.Command, o *volumeOptions) (*openedVolume, error) {
	ref, st, err := openBackup(o.Reference, o.Backupstore)
	if err != nil {
		return nil, err
	}
	r, err := restore.OpenReader(cmd.Context(), st.Store, ref.Volume, ref.Backup, restore.ReaderOptions{CacheBytes: int64(o.CacheSize), Sequential: o.sequential})
	if err != nil {
		return nil, err
	}
	var vol io.ReaderAt = r
	size, where := r.Size(), r.Handle()
	if o.Partition > 0 {
		sec, p, err := partition.Open(r, r.Size(), o.Partition)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Handle(), err)
		}
		vol, size, where = sec, p.Size, fmt.Sprintf("%s partition %d", r.Handle(), p.Number)
	}
	fsys, err := fsread.Open(vol, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if fsys.NeedsRecovery() && fsys.ReplayedBlocks() > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: the filesystem in %s was backed up while mounted; %d blocks were read from its journal (replayed in memory, as a mount would)\n",
			where, fsys.ReplayedBlocks())
	}
	return &openedVolume{fs: fsys, reader: r, handle: r.Handle()}, nil
}

// pathError turns fsread's errors about a path into the CLI's words.
func (v *openedVolume) pathError(p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no such file or directory: %s in %s", p, v.handle)
	case errors.Is(err, fsread.ErrIsDir):
		return fmt.Errorf("%s in %s is a directory; expected a file (list it with snaprestore files ls, copy it with snaprestore files cp -r)", p, v.handle)
	case errors.Is(err, fsread.ErrNotDir):
		return fmt.Errorf("%s in %s: a path component is not a directory: %w", p, v.handle, err)
	}
	return fmt.Errorf("%s in %s: %w", p, v.handle, err)
}

func newFilesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "files",
		Short: "List, print and copy files inside a backup, fetching only the blocks they use",
		Long: `Read the ext2/3/4 filesystem inside a Longhorn backup without restoring the
volume: only the block objects holding the directories and files asked for are
fetched (and checksummed). xfs, btrfs, LUKS and LVM volumes are named and
refused; restore them with snaprestore restore, or export them with
snaprestore nbd and mount them.

` + referenceHelp,
	}
	cmd.AddCommand(newFilesLsCmd(), newFilesCatCmd(), newFilesCpCmd())
	return cmd
}

// filesLsOptions are the flags of `snaprestore files ls`.
type filesLsOptions struct {
	volumeOptions
	Path      string // argument; default "/"
	Long      bool   // -l
	Recursive bool   // -R
	Output    string // -o: "" or json
}

func (o *filesLsOptions) Validate() error {
	if o.Output != "" && o.Output != "json" {
		return fmt.Errorf("-o %q; expected json or nothing (a listing)", o.Output)
	}
	return o.volumeOptions.Validate()
}

func newFilesLsCmd() *cobra.Command {
	o := &filesLsOptions{}
	cmd := &cobra.Command{
		Use:   "ls REFERENCE [PATH] [-l] [-R]",
		Short: "List a directory inside a backup (mode, owner, size, mtime with -l)",
		Example: `  snaprestore files ls vol-data/backup-1c0e4b2f9a7d6835 /etc --backupstore file:///mnt/backups -l
  snaprestore files ls bak://vol-data/backup-1c0e4b2f9a7d6835 / -R -o json --backupstore s3://backups@us-east-1/`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Reference, o.Path = args[0], "/"
			if len(args) == 2 {
				o.Path = args[1]
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return runFilesLs(cmd, o)
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&o.Long, "long", "l", false, "long listing: mode, links, owner, size, mtime, symlink target")
	cmd.Flags().BoolVarP(&o.Recursive, "recursive", "R", false, "list subdirectories too")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: json (default: a listing)")
	return cmd
}

func runFilesLs(cmd *cobra.Command, o *filesLsOptions) error {
	v, err := openVolume(cmd, &o.volumeOptions)
	if err != nil {
		return err
	}
	top, err := v.fs.Lstat(o.Path)
	if err != nil {
		return v.pathError(o.Path, err)
	}
	var all []fsread.Entry
	var list func(dir fsread.Entry) error
	list = func(dir fsread.Entry) error {
		ents, err := v.fs.ReadDir(dir.Path)
		if err != nil {
			return v.pathError(dir.Path, err)
		}
		all = append(all, ents...)
		for _, e := range ents {
			if o.Recursive && e.Mode.IsDir() {
				if err := list(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if !top.Mode.IsDir() {
		all = []fsread.Entry{top}
	} else if err := list(top); err != nil {
		return err
	}
	if o.Output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if all == nil {
			all = []fsread.Entry{}
		}
		return enc.Encode(all)
	}
	return printListing(cmd.OutOrStdout(), all, o.Long, o.Recursive || !top.Mode.IsDir())
}

func printListing(w io.Writer, ents []fsread.Entry, long, fullPaths bool) error {
	rows := make([][]string, 0, len(ents))
	widths := make([]int, 5)
	for _, e := range ents {
		name := e.Name
		if fullPaths {
			name = e.Path
		}
		if !long {
			fmt.Fprintln(w, name)
			continue
		}
		if e.Target != "" {
			name += " -> " + e.Target
		}
		r := []string{e.Perm, fmt.Sprint(e.Nlink), fmt.Sprint(e.UID), fmt.Sprint(e.GID), fmt.Sprint(e.Size),
			e.Mtime.Local().Format(time.DateTime), name}
		for i := range widths {
			widths[i] = max(widths[i], len(r[i]))
		}
		rows = append(rows, r)
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(w, "%-*s %*s %*s %*s %*s %s %s\n", widths[0], r[0], widths[1], r[1], widths[2], r[2],
			widths[3], r[3], widths[4], r[4], r[5], r[6]); err != nil {
			return err
		}
	}
	return nil
}

// filesCatOptions are the flags of `snaprestore files cat`.
type filesCatOptions struct {
	volumeOptions
	Path string // argument
}

func newFilesCatCmd() *cobra.Command {
	o := &filesCatOptions{}
	cmd := &cobra.Command{
		Use:     "cat REFERENCE PATH",
		Short:   "Write a file inside a backup to stdout",
		Example: `  snaprestore files cat vol-data/backup-1c0e4b2f9a7d6835 /etc/app/config.yaml --backupstore file:///mnt/backups`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Reference, o.Path = args[0], args[1]
			if err := o.Validate(); err != nil {
				return err
			}
			v, err := openVolume(cmd, &o.volumeOptions)
			if err != nil {
				return err
			}
			f, err := v.fs.Open(path.Clean("/" + o.Path))
			if err != nil {
				return v.pathError(o.Path, err)
			}
			if _, err := io.CopyBuffer(cmd.OutOrStdout(), struct{ io.Reader }{f}, make([]byte, 1<<20)); err != nil {
				return fmt.Errorf("%s: %w", v.handle, err)
			}
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
