package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "snaprestore",
		Short: "Safe restores of Longhorn backups through the CSI snapshot API",
		Long: `snaprestore checks VolumeSnapshots, VolumeSnapshotContents, VolumeSnapshotClasses
and restore PVCs when they are applied (an admission webhook), creates the
VolumeSnapshotContent a restore needs when you only name a backup, and reads
Longhorn backupstores directly to list, verify and restore backups.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newWebhookCmd(),
		newValidateCmd(),
		newBackupsCmd(),
		newRestoreCmd(),
		newVerifyCmd(),
		newBackupCmd(),
		newPopulateCmd(),
		newFilesCmd(),
		newNBDCmd(),
	)
	return root
}
