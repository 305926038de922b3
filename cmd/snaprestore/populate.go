package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/webhook/populator"
)

func newPopulateCmd() *cobra.Command {
	o := populator.PopulateOptions{}
	cmd := &cobra.Command{
		Use:   "populate --backup REF (--device PATH | --dir PATH)",
		Short: "Write a backup into a volume: the populator pod's command (docs/populator.md)",
		Long: `Restore a backup into the volume of a populator pod: --device for a Block
PVC (the raw image, verified block by block), --dir for a Filesystem PVC (the
files of the ext2/3/4 filesystem in the backup; a copy an interrupted populate
left, marked by its .snaprestore-populating file, is resumed: the files it
completed are kept). The backupstore is --backupstore or $BACKUPSTORE, S3
settings from AWS_*.

The result is written as JSON to --result-file (the termination message the
controller reads). In Block mode the file is also rewritten while the restore
runs, after each durable flush, with a progress document whose resumeRecord
lists the block objects written and synced (a gzip'd, checksummed bitmap of
at most 2048 characters). The controller gives that record to the next pod of
a failed population in $SNAPRESTORE_RESUME_RECORD (or --resume-record), which
skips those objects; a record that does not decode or names another backup or
size is ignored with a log line, and the restore starts from the first block.

Exit status 2: the backup is damaged or missing, or the process's user may not
write the device, retrying cannot help; 1: any other failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.SetDefaults()
			if err := o.Validate(); err != nil {
				return err
			}
			return runPopulate(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Backup, "backup", "", "backup reference: bak://<volume>/<backup>, <volume>/<backup> or a Longhorn backup URL")
	f.StringVar(&o.Backupstore, "backupstore", "", "backupstore URL (default $BACKUPSTORE)")
	f.StringVar(&o.Device, "device", "", "block device (or image file) to write the image to")
	f.StringVar(&o.Dir, "dir", "", "mounted directory to copy the files to (Filesystem mode)")
	f.StringVar(&o.ResultFile, "result-file", populator.DefaultResultFile, "file receiving the JSON result (the termination message)")
	f.IntVar(&o.Concurrency, "concurrency", 0, "blocks fetched and written at once (default: the engine's)")
	f.StringVar(&o.ResumeRecord, "resume-record", "", "resume record of an interrupted populate of this volume (default $"+populator.EnvResumeRecord+"; Block mode)")
	return cmd
}

// populateFilesMemoryLimit is the Go heap goal of populate --dir: its reader
// holds up to 130 MiB of blocks with the default cache and batched checksums
// (restore.OpenReader); without a goal the collector let the pod reach
// 300 MiB of RSS. An explicit GOMEMLIMIT wins.
const populateFilesMemoryLimit = 176 << 20

func runPopulate(cmd *cobra.Command, o populator.PopulateOptions) error {
	pr := newProgressPrinter(cmd.ErrOrStderr(), "populate")
	pr.files = o.Dir != ""
	if o.Dir != "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(populateFilesMemoryLimit)
	}
	o.Logf = func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "snaprestore: "+format+"\n", args...) }
	var rep *populator.Reporter
	if name, ns := os.Getenv(populator.EnvPodName), os.Getenv(populator.EnvPodNamespace); name != "" && ns != "" {
		// In a pod: the ServiceAccount's token; elsewhere (the test node agent) $KUBECONFIG.
		if cfg, err := ctrl.GetConfig(); err == nil {
			if rep, err = populator.NewReporter(cfg, ns, name, 0); err != nil {
				return err
			}
		}
	}
	o.Progress = func(p restore.Progress) {
		pr.update(p)
		if rep != nil {
			rep.Update(cmd.Context(), p)
		}
	}
	res, err := populator.Populate(cmd.Context(), o)
	pr.finish()
	if rep != nil {
		rep.Wait()
	}
	if werr := populator.WriteResult(o.ResultFile, res); werr != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "snaprestore:", werr)
	}
	if rep != nil && err == nil && res.Succeeded {
		// The controller may hand the volume over now; without this it
		// learns of the success when the kubelet notices the exit.
		if perr := rep.Succeeded(cmd.Context(), res); perr != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "snaprestore:", perr)
		}
	}
	if err != nil {
		code := 1
		if res.Permanent {
			code = populator.ExitPermanent
		}
		return &exitError{code: code, msg: err.Error()}
	}
	fmt.Fprintln(cmd.OutOrStdout(), res.Message)
	return nil
}
