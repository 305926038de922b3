package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(placeholder): replaced by the owner of the verify command.
func newVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "not implemented yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("verify: not implemented yet")
		},
	}
}
