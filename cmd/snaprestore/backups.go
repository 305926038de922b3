package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(placeholder): replaced by the owner of the backups command.
func newBackupsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backups",
		Short: "not implemented yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("backups: not implemented yet")
		},
	}
}
