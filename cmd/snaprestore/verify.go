package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/snaprestore/snaprestore/restore"
)

// verifyOptions are the flags of `snaprestore verify`.
type verifyOptions struct {
	Reference   string // argument
	Backupstore string // --backupstore; optional when the reference carries one
	Concurrency int    // --concurrency; 0 = engine default
}

func (o *verifyOptions) Validate() error {
	if o.Concurrency < 0 {
		return fmt.Errorf("--concurrency %d; expected a positive number", o.Concurrency)
	}
	return nil
}

func newVerifyCmd() *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify REFERENCE --backupstore URL",
		Short: "Check every block of a backup (fetch, decompress, checksum) without writing anything",
		Long: `Fetch, decompress and checksum every block of a backup. Nothing is written,
neither to the backupstore nor locally. Each problem is reported with the block
offset and the object path; the exit status is 1 when there is any problem.

` + referenceHelp,
		Example: `  snaprestore verify bak://vol-data/backup-1c0e4b2f9a7d6835 --backupstore file:///mnt/backups`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Reference = args[0]
			if err := o.Validate(); err != nil {
				return err
			}
			return runVerify(cmd, o)
		},
	}
	cmd.Flags().StringVar(&o.Backupstore, "backupstore", "", backupstoreUsage)
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 0, "blocks fetched and checked at once (default: 2 per CPU, at least 4)")
	return cmd
}

func runVerify(cmd *cobra.Command, o *verifyOptions) error {
	ref, st, err := openBackup(o.Reference, o.Backupstore)
	if err != nil {
		return err
	}
	pr := newProgressPrinter(cmd.ErrOrStderr(), "verify")
	rep, err := restore.Verify(cmd.Context(), st.Store, ref.Volume, ref.Backup, restore.VerifyOptions{
		Concurrency: o.Concurrency, Progress: pr.update})
	pr.finish()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	for _, p := range rep.Problems {
		fmt.Fprintln(out, "problem:", p)
	}
	if !rep.OK() {
		return &exitError{code: 1, msg: fmt.Sprintf("%s: %d of %d block objects failed verification", rep.Backup, len(rep.Problems), rep.Objects)}
	}
	fmt.Fprintf(out, "verified %s: %d blocks (%s, %d objects) intact in %s (%.1f MB/s)\n",
		rep.Backup, rep.Blocks, humanBytes(rep.Bytes), rep.Objects, rep.Duration.Round(time.Millisecond), rep.MBps())
	return nil
}
