package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(placeholder): replaced by the owner of the webhook command.
func newWebhookCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "webhook",
		Short: "not implemented yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("webhook: not implemented yet")
		},
	}
}
