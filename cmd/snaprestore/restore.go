package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(placeholder): replaced by the owner of the restore command.
func newRestoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore",
		Short: "not implemented yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("restore: not implemented yet")
		},
	}
}
