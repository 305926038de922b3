package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2/textlogger"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/snaprestore/snaprestore/certs"
	"github.com/snaprestore/snaprestore/webhook"
)

// webhookFlags are the flags of `snaprestore webhook`.
type webhookFlags struct {
	webhook    webhook.Options
	certs      certs.Options
	kubeconfig string
	verbosity  int
}

func newWebhookCmd() *cobra.Command {
	var f webhookFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Run the admission webhook server",
		Long: `Run the HTTPS admission webhook: validating and mutating handlers for
VolumeSnapshots, VolumeSnapshotContents, VolumeSnapshotClasses and restore PVCs,
the orphan GC of created VolumeSnapshotContents, /metrics, /healthz and /readyz.
With --backupstore, backup references are checked against the backupstore and
restore PVCs' backups are verified in the background. See docs/webhook.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWebhook(cmd.Context(), f)
		},
	}
	fs := cmd.Flags()
	f.webhook.AddFlags(fs)
	f.certs.AddFlags(fs)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "Path to a kubeconfig (default $KUBECONFIG, then in-cluster, then ~/.kube/config).")
	fs.IntVarP(&f.verbosity, "verbosity", "v", 0, "Log verbosity: 0 lifecycle, 1 per-object decisions, 5 payloads.")
	return cmd
}

func runWebhook(ctx context.Context, f webhookFlags) error {
	// The flags carry the defaults: a zero value given on the command line (--port 0)
	// is reported by Validate, not replaced.
	if err := f.webhook.Validate(); err != nil {
		return err
	}
	if err := f.certs.Validate(); err != nil {
		return err
	}
	ctrl.SetLogger(textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(f.verbosity))))
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	tlsOpts, addCerts, addAuthority, err := certs.Setup(cfg, f.certs)
	if err != nil {
		return err
	}
	scheme, err := webhook.NewScheme()
	if err != nil {
		return err
	}
	mgr, err := webhook.NewManager(cfg, scheme, f.webhook, tlsOpts)
	if err != nil {
		return err
	}
	if err := addCerts(mgr); err != nil {
		return fmt.Errorf("serving certificates: %w", err)
	}
	if err := webhook.Setup(mgr, f.webhook, addAuthority); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// restConfig loads --kubeconfig when given, else controller-runtime's usual
// order ($KUBECONFIG, in-cluster, ~/.kube/config).
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("no kubeconfig: set --kubeconfig or $KUBECONFIG, or run in a cluster: %w", err)
		}
		return cfg, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}
