package webhook

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/snaprestore/snaprestore/webhook/populator"
)

// Defaults of the `snaprestore webhook` flags.
const (
	DefaultPort                   = 9443
	DefaultCertDir                = "/tmp/k8s-webhook-server/serving-certs"
	DefaultMetricsBindAddress     = ":8080"
	DefaultHealthProbeBindAddress = ":8081"
	// DefaultLonghornDriver is the CSI driver name of Longhorn: the default of
	// --longhorn-driver and --default-driver (here and in snaprestore validate).
	DefaultLonghornDriver = "driver.longhorn.io"
	// LeaderElectionID is the Lease the replicas of the webhook elect a leader with
	// (the orphan GC and the background verifier run on the leader only).
	LeaderElectionID = "snaprestore.io"
	// DefaultLeaseDuration, DefaultRenewDeadline and DefaultRetryPeriod time the
	// Lease so that the leader rides out an API server restart (docs/webhook.md).
	DefaultLeaseDuration = 60 * time.Second
	DefaultRenewDeadline = 40 * time.Second
	DefaultRetryPeriod   = 5 * time.Second
	// leaderelectionJitter is client-go's JitterFactor: the renew deadline must
	// exceed it times the retry period.
	leaderelectionJitter = 1.2
)

// Options are the flags of `snaprestore webhook` except the certificate flags
// (package certs) and --kubeconfig. The manager-level fields (addresses, cert
// dir, leader election) are read by the command when it builds the manager;
// Setup uses the rest.
type Options struct {
	// Port is the HTTPS port of the webhook server (--port). Default 9443.
	Port int
	// BindAddress is the host the webhook server listens on (--bind-address).
	// Default "": all interfaces.
	BindAddress string
	// CertDir holds tls.crt and tls.key in files mode, reloaded when they change
	// (--cert-dir). Default /tmp/k8s-webhook-server/serving-certs.
	CertDir string
	// MetricsBindAddress serves /metrics (--metrics-bind-address); "0" disables
	// it. Default ":8080".
	MetricsBindAddress string
	// MetricsInsecure serves /metrics over plain HTTP to anyone who reaches it
	// (--metrics-insecure). Default false: HTTPS, authenticated and authorized
	// (see MetricsOptions).
	MetricsInsecure bool
	// HealthProbeBindAddress serves /healthz and /readyz
	// (--health-probe-bind-address); "0" disables it. Default ":8081".
	HealthProbeBindAddress string
	// LeaderElect runs the orphan GC and the verifier on one elected replica
	// (--leader-elect). Default false.
	LeaderElect bool
	// LeaderElectionNamespace holds the Lease (--leader-election-namespace).
	// Default "": the namespace the pod runs in.
	LeaderElectionNamespace string
	// LeaderElectionLeaseDuration, LeaderElectionRenewDeadline and
	// LeaderElectionRetryPeriod time the Lease (--leader-election-lease-duration,
	// --leader-election-renew-deadline, --leader-election-retry-period). Defaults
	// 60s, 40s and 5s: the leader keeps the Lease through an API server outage
	// shorter than the renew deadline (a restart takes 10-20 s), where
	// controller-runtime's 15s/10s/2s exits the process after 10 s.
	LeaderElectionLeaseDuration time.Duration
	LeaderElectionRenewDeadline time.Duration
	LeaderElectionRetryPeriod   time.Duration
	// LonghornDrivers are the CSI drivers whose handles follow Longhorn's grammar
	// (--longhorn-driver, repeatable). Default [driver.longhorn.io].
	LonghornDrivers []string
	// DefaultDriver is the driver of a created VolumeSnapshotContent when no class
	// names one (--default-driver). Default driver.longhorn.io.
	DefaultDriver string
	// ProtectBackups denies deletionPolicy Delete on contents of existing backups
	// instead of warning (--protect-backups). Default false.
	ProtectBackups bool
	// GCGracePeriod is how long a created content nobody claims is kept
	// (--gc-grace-period). Default 2m.
	GCGracePeriod time.Duration
	// Backupstore is the Longhorn backupstore URL (--backupstore); S3 settings
	// come from the environment. Default "": no backup pre-flight, sizes or
	// verification.
	Backupstore string
	// Getenv reads the backupstore's S3 settings. Default os.Getenv.
	Getenv func(string) string
	// Populator configures the BackupSource volume populator (--populator*
	// flags, package webhook/populator); off by default.
	Populator populator.Options
}

// AddFlags binds the options to fs with their defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.Port, "port", DefaultPort, "HTTPS port of the admission webhook server.")
	fs.StringVar(&o.BindAddress, "bind-address", "", "Address the webhook server listens on (empty: all interfaces).")
	fs.StringVar(&o.CertDir, "cert-dir", DefaultCertDir, "Directory with tls.crt and tls.key (files mode); reloaded when they change.")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", DefaultMetricsBindAddress, `Address of the /metrics endpoint ("0" disables it).`)
	fs.BoolVar(&o.MetricsInsecure, "metrics-insecure", false, "Serve /metrics over plain HTTP without authentication (default: HTTPS; scrapers need a token allowed to GET /metrics).")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", DefaultHealthProbeBindAddress, `Address of /healthz and /readyz ("0" disables them).`)
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "Elect a leader among replicas for the orphan GC and the backup verifier.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease (empty: the pod's namespace).")
	fs.DurationVar(&o.LeaderElectionLeaseDuration, "leader-election-lease-duration", DefaultLeaseDuration, "How long a replica waits for an unrenewed Lease before it takes over.")
	fs.DurationVar(&o.LeaderElectionRenewDeadline, "leader-election-renew-deadline", DefaultRenewDeadline, "How long the leader keeps retrying to renew the Lease (e.g. through an API server restart) before it gives up: its leader-only work stops, admission keeps serving, and it campaigns again.")
	fs.DurationVar(&o.LeaderElectionRetryPeriod, "leader-election-retry-period", DefaultRetryPeriod, "Interval between leader election attempts.")
	AddLonghornDriverFlag(fs, &o.LonghornDrivers)
	fs.StringVar(&o.DefaultDriver, "default-driver", DefaultLonghornDriver, "Driver of a created VolumeSnapshotContent when no VolumeSnapshotClass names one.")
	fs.BoolVar(&o.ProtectBackups, "protect-backups", false, "Deny deletionPolicy Delete on VolumeSnapshotContents of existing backups instead of warning.")
	fs.DurationVar(&o.GCGracePeriod, "gc-grace-period", DefaultGCGracePeriod, "How long a created VolumeSnapshotContent no VolumeSnapshot claims is kept.")
	fs.StringVar(&o.Backupstore, "backupstore", "", "Longhorn backupstore URL (file:///path or s3://bucket@region/[path]; S3 settings from AWS_* variables).")
	o.Populator.AddFlags(fs)
}

// SetDefaults fills zero fields with their documented defaults, for Options
// built without AddFlags (whose flags carry the defaults already). Addresses are
// left alone: "" is a meaningful bind address.
func (o *Options) SetDefaults() {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.CertDir == "" {
		o.CertDir = DefaultCertDir
	}
	if len(o.LonghornDrivers) == 0 {
		o.LonghornDrivers = []string{DefaultLonghornDriver}
	}
	if o.DefaultDriver == "" {
		o.DefaultDriver = DefaultLonghornDriver
	}
	if o.GCGracePeriod == 0 {
		o.GCGracePeriod = DefaultGCGracePeriod
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.LeaderElectionLeaseDuration == 0 {
		o.LeaderElectionLeaseDuration = DefaultLeaseDuration
	}
	if o.LeaderElectionRenewDeadline == 0 {
		o.LeaderElectionRenewDeadline = DefaultRenewDeadline
	}
	if o.LeaderElectionRetryPeriod == 0 {
		o.LeaderElectionRetryPeriod = DefaultRetryPeriod
	}
	o.Populator.SetDefaults()
}

// Validate reports every invalid flag, each naming the flag, its value and
// what was expected.
func (o *Options) Validate() error {
	var errs []error
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: expected a TCP port from 1 to 65535", o.Port))
	}
	if o.BindAddress != "" && net.ParseIP(o.BindAddress) == nil && len(validation.IsDNS1123Subdomain(o.BindAddress)) > 0 {
		errs = append(errs, fmt.Errorf("--bind-address %q: expected an IP address, a host name or empty (all interfaces)", o.BindAddress))
	}
	for _, a := range []struct{ flag, value string }{
		{"--metrics-bind-address", o.MetricsBindAddress},
		{"--health-probe-bind-address", o.HealthProbeBindAddress},
	} {
		if err := validateListenAddress(a.value); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", a.flag, a.value, err))
		}
	}
	if o.CertDir == "" {
		errs = append(errs, errors.New("--cert-dir: expected a directory, got an empty path"))
	}
	errs = append(errs, ValidateDrivers("--longhorn-driver", o.LonghornDrivers))
	errs = append(errs, ValidateDrivers("--default-driver", []string{o.DefaultDriver}))
	if o.GCGracePeriod <= 0 {
		errs = append(errs, fmt.Errorf("--gc-grace-period %s: expected a positive duration", o.GCGracePeriod))
	}
	if o.LeaderElectionNamespace != "" {
		if msgs := validation.IsDNS1123Label(o.LeaderElectionNamespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--leader-election-namespace %q: %s", o.LeaderElectionNamespace, strings.Join(msgs, "; ")))
		}
	}
	errs = append(errs, o.validateLeaseTimes())
	errs = append(errs, o.Populator.Validate())
	return errors.Join(errs...)
}

// validateLeaseTimes checks client-go's leader election constraints: lease duration >
// renew deadline > 1.2 x retry period, all positive.
func (o *Options) validateLeaseTimes() error {
	lease, renew, retry := o.LeaderElectionLeaseDuration, o.LeaderElectionRenewDeadline, o.LeaderElectionRetryPeriod
	switch {
	case lease <= 0 || renew <= 0 || retry <= 0:
		return fmt.Errorf("--leader-election-lease-duration %s, --leader-election-renew-deadline %s, --leader-election-retry-period %s: expected positive durations", lease, renew, retry)
	case renew >= lease:
		return fmt.Errorf("--leader-election-renew-deadline %s: expected less than --leader-election-lease-duration %s", renew, lease)
	case float64(renew) <= leaderelectionJitter*float64(retry):
		return fmt.Errorf("--leader-election-renew-deadline %s: expected more than %.1f x --leader-election-retry-period %s", renew, leaderelectionJitter, retry)
	}
	return nil
}

// validateListenAddress accepts "0" (disabled) and host:port.
func validateListenAddress(addr string) error {
	if addr == "0" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf(`expected host:port, :port or "0" to disable: %w`, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("expected a port from 0 to 65535, got %q", port)
	}
	return nil
}

// AddLonghornDriverFlag binds --longhorn-driver, the one definition `snaprestore
// webhook` and `snaprestore validate` share: repeatable, and a comma separates names
// too (CSI driver names cannot contain one). Default [driver.longhorn.io].
func AddLonghornDriverFlag(fs *pflag.FlagSet, drivers *[]string) {
	fs.StringSliceVar(drivers, "longhorn-driver", []string{DefaultLonghornDriver},
		"CSI driver whose snapshot handles follow Longhorn's grammar (repeatable, or comma-separated).")
}

// ValidateDrivers reports each name in drivers that is not a CSI driver name (a DNS-1123
// subdomain), naming flag.
func ValidateDrivers(flag string, drivers []string) error {
	var errs []error
	for _, d := range drivers {
		if msgs := validation.IsDNS1123Subdomain(d); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: expected a CSI driver name: %s", flag, d, strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
}

// HandlerOptions configure the admission handlers and the rules (NewRules,
// NewValidatingHandlers, NewMutatingHandlers), in the webhook and in snaprestore
// validate. Options.HandlerOptions builds them from the flags.
type HandlerOptions struct {
	// LonghornDrivers are the CSI driver names whose snapshot handles must follow
	// Longhorn's grammar. Default [driver.longhorn.io].
	LonghornDrivers []string
	// ProtectBackups denies deletionPolicy Delete on a VolumeSnapshotContent of a
	// pre-existing backup instead of warning. Default false.
	ProtectBackups bool
	// DefaultDriver is the driver of a created content when no VolumeSnapshotClass (or,
	// for a PVC, no StorageClass) names one. Default driver.longhorn.io.
	DefaultDriver string
	// Backups answers questions about backups in the configured backupstore; nil when
	// none is configured (no pre-flight, sizes unknown).
	Backups Backups
	// Populate is set when the volume populator runs: an annotated PVC of a class whose
	// provisioner is none of LonghornDrivers gets a BackupSource instead of a
	// VolumeSnapshot (mutate_backupsource.go). Default false.
	Populate bool
}

// SetDefaults fills unset fields with their documented defaults.
func (o *HandlerOptions) SetDefaults() {
	if len(o.LonghornDrivers) == 0 {
		o.LonghornDrivers = []string{DefaultLonghornDriver}
	}
	if o.DefaultDriver == "" {
		o.DefaultDriver = DefaultLonghornDriver
	}
}

// HandlerOptions are the handlers' options of these flags; Backups is left to Setup,
// which opens the backupstore.
func (o *Options) HandlerOptions() HandlerOptions {
	return HandlerOptions{LonghornDrivers: o.LonghornDrivers, ProtectBackups: o.ProtectBackups, DefaultDriver: o.DefaultDriver,
		Populate: o.Populator.Enabled}
}
