package main

import (
	"github.com/spf13/cobra"

	"github.com/snaprestore/snaprestore/webhook/offline"
)

// newValidateCmd wires `snaprestore validate`: the webhook's rules, offline, on files.
// Exit status: 0 all allowed, 1 something denied, 2 unreadable or unparsable input.
func newValidateCmd() *cobra.Command {
	var o offline.Options
	cmd := &cobra.Command{
		Use:   "validate -f FILE|- [-f FILE ...] [--old FILE]",
		Short: "Check snapshot and restore objects offline with the webhook's rules",
		Long: `validate runs the admission webhook's rules on VolumeSnapshots, VolumeSnapshotContents,
VolumeSnapshotClasses and PersistentVolumeClaims in YAML or JSON files (several documents,
List kinds), without a cluster. Cross-object checks see the other objects in the files; an
object that is not in them is unknown, so its check is a warning, never a denial. With --old
the objects are checked as an UPDATE of the matching objects (kind, namespace, name) in that
file. Other kinds are reported as skipped.

Exit status: 0 when every object is allowed, 1 when any is denied, 2 when the input cannot
be read or parsed.`,
		Example: `  snaprestore validate -f restore.yaml
  kustomize build overlays/prod | snaprestore validate -f -
  snaprestore validate -f new/content.yaml --old live/content.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Stdin = cmd.InOrStdin()
			rep, err := offline.Run(cmd.Context(), o)
			if err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			if err := rep.Write(cmd.OutOrStdout()); err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			if rep.Denied() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
