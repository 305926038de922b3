package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/snaprestore/snaprestore/restore"
)

// defaultBackupsLimit is --limit's default: a volume of 5,000 backups lists in
// about the time of its LIST pages, not of 5,000 cfg reads (issue #13).
const defaultBackupsLimit = 50

// backupsOptions are the flags of `snaprestore backups`.
type backupsOptions struct {
	Backupstore string // --backupstore, required
	Volume      string // optional argument: only this volume
	Output      string // -o: "" (table) or json
	Limit       int    // --limit: newest backups listed per volume; 0 all
}

func (o *backupsOptions) Validate() error {
	if o.Backupstore == "" {
		return errors.New("--backupstore is required (file:///path, vfs:///path or s3://bucket@region/[path])")
	}
	if o.Limit < 0 {
		return fmt.Errorf("--limit %d; expected 0 (all backups) or a positive number", o.Limit)
	}
	if o.Output != "" && o.Output != "json" {
		return fmt.Errorf("-o %q; expected json or nothing (a table)", o.Output)
	}
	return nil
}

func newBackupsCmd() *cobra.Command {
	o := &backupsOptions{}
	cmd := &cobra.Command{
		Use:   "backups --backupstore URL [VOLUME]",
		Short: "List the volumes of a Longhorn backupstore and their backups, newest first",
		Long: `List volumes and their backups: state (completed / in progress), creation time,
restore size and a ready-to-paste handle bak://<volume>/<backup>.

S3 settings come from the variables of Longhorn's backup-target secret:
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINTS,
AWS_CERT, AWS_REGION, VIRTUAL_HOSTED_STYLE.`,
		Example: `  snaprestore backups --backupstore file:///mnt/backups
  snaprestore backups --backupstore s3://backups@us-east-1/longhorn vol-data -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Volume = args[0]
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return runBackups(cmd, o)
		},
	}
	cmd.Flags().StringVar(&o.Backupstore, "backupstore", "", "backupstore URL: file:///path, vfs:///path or s3://bucket@region/[path]")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: json (default: a table)")
	cmd.Flags().IntVar(&o.Limit, "limit", defaultBackupsLimit, "newest backups listed per volume (0: all; each listed backup's cfg is read)")
	return cmd
}

func runBackups(cmd *cobra.Command, o *backupsOptions) error {
	st, err := openStore(o.Backupstore)
	if err != nil {
		return err
	}
	vols, err := restore.List(cmd.Context(), st.Store, restore.ListOptions{Volume: o.Volume, Limit: o.Limit})
	if err != nil {
		return err
	}
	for _, v := range vols {
		if v.Omitted > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d older backups not listed (--limit %d; --limit 0 lists all)\n", v.Name, v.Omitted, o.Limit)
		}
	}
	out := cmd.OutOrStdout()
	if o.Output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(vols)
	}
	return printBackups(out, vols)
}

func printBackups(out io.Writer, vols []restore.VolumeInfo) error {
	if len(vols) == 0 {
		_, err := fmt.Fprintln(out, "no volumes in this backupstore")
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tBACKUP\tSTATE\tCREATED\tSIZE\tHANDLE")
	for _, v := range vols {
		if len(v.Backups) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\t-\n", v.Name, humanBytes(v.Size))
		}
		for _, b := range v.Backups {
			created := "-"
			if !b.Created.IsZero() {
				created = b.Created.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, b.Name, b.State, created, humanBytes(b.VolumeSize), b.Handle)
		}
	}
	return tw.Flush()
}

func openStore(url string) (*restore.Store, error) {
	return restore.OpenStore(url, restore.StoreOptions{Getenv: os.Getenv})
}

// humanBytes renders a byte count in binary units (64 MiB, 1.5 GiB).
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %ciB", int64(v), "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}
