package main

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/nbd"
)

// nbdOptions are the flags of `snaprestore nbd`.
type nbdOptions struct {
	Reference   string   // argument
	Backupstore string   // --backupstore; optional when the reference carries one
	Listen      string   // --listen; default 127.0.0.1:10809
	Partition   int      // --partition; 0 = the whole volume
	CacheSize   byteSize // --cache-size; default 64 MiB
	Concurrency int      // --concurrency; 0 = engine default
}

// Validate checks the flags with the export's own rules (nbd.Options.Validate).
func (o *nbdOptions) Validate() error { return o.options().Validate() }

func (o *nbdOptions) options() nbd.Options {
	return nbd.Options{
		Listen:    o.Listen,
		Partition: o.Partition,
		Reader:    restore.ReaderOptions{CacheBytes: int64(o.CacheSize), Concurrency: o.Concurrency},
	}
}

func newNBDCmd() *cobra.Command {
	o := &nbdOptions{Listen: "127.0.0.1:10809", CacheSize: restore.DefaultCacheBytes}
	cmd := &cobra.Command{
		Use:   "nbd REFERENCE --backupstore URL [--listen ADDR] [--partition N]",
		Short: "Serve a backup as a read-only NBD export, fetching only the blocks clients read",
		Long: `Serve the volume image of a backup (or partition N of its GPT or MBR table) as a
read-only NBD export, until SIGINT or SIGTERM (exit status 0). Nothing is
restored: each block object is fetched, checksummed and cached (--cache-size)
when a client first reads it, so mounting a filesystem and copying a few files
reads only the blocks they use. Writes are refused (EPERM). A block that fails
its checksum ends that client's connection and is reported here with its offset
and object path; the export goes on serving.

Attach it with nbd-client and mount it read-only, or read it with any NBD client
(nbdinfo, nbdcopy, qemu-img):
  nbd-client 127.0.0.1 10809 /dev/nbd0 -readonly && mount -o ro /dev/nbd0p1 /mnt

` + referenceHelp,
		Example: `  snaprestore nbd bak://vol-data/backup-1c0e4b2f9a7d6835 --backupstore file:///mnt/backups --listen 127.0.0.1:10809
  snaprestore nbd vm-disk/backup-a94d0f6e2b1c7358 --backupstore s3://backups@us-east-1/ --partition 2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Reference = args[0]
			if err := o.Validate(); err != nil {
				return err
			}
			return runNBD(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Backupstore, "backupstore", "", backupstoreUsage)
	f.StringVar(&o.Listen, "listen", o.Listen, "TCP address to serve on, host:port (port 0: any free port)")
	f.IntVar(&o.Partition, "partition", 0, "export partition N of the volume's GPT or MBR table instead of the whole volume")
	f.Var(&o.CacheSize, "cache-size", cacheSizeUsage)
	f.IntVar(&o.Concurrency, "concurrency", 0, "block objects fetched at once (default: 2 per CPU, at least 4; 2 for 16 MiB blocks)")
	return cmd
}

func runNBD(cmd *cobra.Command, o *nbdOptions) error {
	ref, st, err := openBackup(o.Reference, o.Backupstore)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	opts := o.options()
	opts.Ready = func(e nbd.Export, addr net.Addr) {
		fmt.Fprintf(stderr, "serving %s (%s, read-only) at nbd://%s; stop with Ctrl-C\n", e.Description, humanBytes(e.Size), addr)
	}
	opts.Errors = func(err error) { fmt.Fprintf(stderr, "snaprestore nbd: %v\n", err) }
	if err := nbd.Run(cmd.Context(), st.Store, ref.Volume, ref.Backup, opts); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "stopped")
	return nil
}
