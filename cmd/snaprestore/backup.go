package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// backupOptions are the flags of `snaprestore backup`.
type backupOptions struct {
	Backupstore string // --backupstore, required
	Volume      string // --volume, required
	From        string // --from: raw image, required
	Backup      string // --backup; default backup-<16 hex>
	Compression string // --compression: lz4 (default), gzip, none
	BlockSize   string // --block-size: 2Mi (default) or 16Mi
	Concurrency int    // --concurrency; default 4
}

// checkNames refuses a --volume or --backup that no handle could name later:
// the backup would be written and then be impossible to restore or list.
func (o *backupOptions) checkNames() error {
	b := o.Backup
	if b == "" {
		b = "backup-0123456789abcdef" // the form of the generated name
	}
	if _, err := restore.ParseHandle(restore.Reference{Volume: o.Volume, Backup: b}.Handle()); err != nil {
		return fmt.Errorf("--volume %q, --backup %q: %w", o.Volume, o.Backup, err)
	}
	return nil
}

func (o *backupOptions) Validate() error {
	var errs []error
	if o.Backupstore == "" {
		errs = append(errs, errors.New("--backupstore is required (file:///path or s3://bucket@region/[path])"))
	}
	if o.Volume == "" {
		errs = append(errs, errors.New("--volume is required"))
	} else if err := o.checkNames(); err != nil {
		errs = append(errs, err)
	}
	if o.From == "" {
		errs = append(errs, errors.New("--from is required: the raw image to back up"))
	}
	if _, err := parseBlockSize(o.BlockSize); err != nil {
		errs = append(errs, err)
	}
	if _, err := backupstore.ParseCompression(o.Compression); err != nil || o.Compression == "" {
		errs = append(errs, fmt.Errorf("--compression %q; expected lz4, gzip or none", o.Compression))
	}
	return errors.Join(errs...)
}

func parseBlockSize(s string) (int64, error) {
	switch strings.TrimSpace(s) {
	case "2Mi", "2MiB", strconv.FormatInt(backupstore.BlockSize2Mi, 10):
		return backupstore.BlockSize2Mi, nil
	case "16Mi", "16MiB", strconv.FormatInt(backupstore.BlockSize16Mi, 10):
		return backupstore.BlockSize16Mi, nil
	}
	return 0, fmt.Errorf("--block-size %q; expected 2Mi or 16Mi", s)
}

func newBackupCmd() *cobra.Command {
	o := &backupOptions{Compression: "lz4", BlockSize: "2Mi"}
	cmd := &cobra.Command{
		Use:   "backup --backupstore URL --volume VOLUME --from IMAGE",
		Short: "Write a Longhorn-format backup of a raw image (to seed test backupstores)",
		Long: `Back up a raw image (a sparse file or a block device) into a backupstore in
Longhorn's format. The first backup of a volume is full; later ones are
incremental: only blocks the store does not hold yet are uploaded. All-zero
blocks and holes are not stored.`,
		Example: `  snaprestore backup --backupstore file:///tmp/store --volume vol-data --from data.img --backup backup-1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			bs, _ := parseBlockSize(o.BlockSize)
			st, err := openStore(o.Backupstore)
			if err != nil {
				return err
			}
			sum, err := restore.WriteBackup(cmd.Context(), st, restore.BackupOptions{
				Volume: o.Volume, Image: o.From, Backup: o.Backup, Compression: backupstore.Compression(o.Compression),
				BlockSize: bs, Concurrency: o.Concurrency})
			if err != nil {
				return err
			}
			kind := "full"
			if sum.Incremental {
				kind = "incremental"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s (%s): %s volume, %d blocks, %d objects uploaded (%s), %d reused, %s\n",
				o.From, sum.Backup, kind, humanBytes(sum.VolumeSize), sum.Blocks, sum.Uploaded, humanBytes(sum.UploadBytes),
				sum.Reused, sum.Duration.Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Backupstore, "backupstore", "", "backupstore URL: file:///path or s3://bucket@region/[path]")
	f.StringVar(&o.Volume, "volume", "", "Longhorn volume name")
	f.StringVar(&o.From, "from", "", "raw image to back up")
	f.StringVar(&o.Backup, "backup", "", "backup name (default backup-<16 random hex digits>)")
	f.StringVar(&o.Compression, "compression", o.Compression, "block compression: lz4, gzip or none")
	f.StringVar(&o.BlockSize, "block-size", o.BlockSize, "block size: 2Mi or 16Mi")
	f.IntVar(&o.Concurrency, "concurrency", 0, "blocks compressed and uploaded at once (default 4)")
	return cmd
}
