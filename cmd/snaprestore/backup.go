package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(placeholder): replaced by the owner of the backup command.
func newBackupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup",
		Short: "not implemented yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("backup: not implemented yet")
		},
	}
}
