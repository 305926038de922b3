package webhook

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// CacheOptions are the manager cache options for Setup's handlers: cached objects
// drop metadata.managedFields, which no rule reads and every cache read would
// otherwise deep-copy (about a third of a PVC review's allocations).
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
}

// Defaults of the `snaprestore webhook` flags.
const (
	DefaultPort                   = 9443
	DefaultCertDir                = "/tmp/k8s-webhook-server/serving-certs"
	DefaultMetricsBindAddress     = ":8080"
	DefaultHealthProbeBindAddress = ":8081"
	DefaultDriver                 = "driver.longhorn.io"
	// LeaderElectionID is the Lease the replicas of the webhook elect a leader with
	// (the orphan GC and the background verifier run on the leader only).
	LeaderElectionID = "snaprestore.io"
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
	// come from the environment. Default "": no backup pre-flight, sizes,
	// verification or materialization.
	Backupstore string
	// RestoreDir materializes restore PVCs' images under DIR/<namespace>/<pvc>.img
	// (--restore-dir); needs Backupstore. Default "": off.
	RestoreDir string
	// Getenv reads the backupstore's S3 settings. Default os.Getenv.
	Getenv func(string) string
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
	fs.StringSliceVar(&o.LonghornDrivers, "longhorn-driver", []string{DefaultDriver}, "CSI driver whose snapshot handles follow Longhorn's grammar (repeatable).")
	fs.StringVar(&o.DefaultDriver, "default-driver", DefaultDriver, "Driver of a created VolumeSnapshotContent when no VolumeSnapshotClass names one.")
	fs.BoolVar(&o.ProtectBackups, "protect-backups", false, "Deny deletionPolicy Delete on VolumeSnapshotContents of existing backups instead of warning.")
	fs.DurationVar(&o.GCGracePeriod, "gc-grace-period", DefaultGCGracePeriod, "How long a created VolumeSnapshotContent no VolumeSnapshot claims is kept.")
	fs.StringVar(&o.Backupstore, "backupstore", "", "Longhorn backupstore URL (file:///path or s3://bucket@region/[path]; S3 settings from AWS_* variables).")
	fs.StringVar(&o.RestoreDir, "restore-dir", "", "Materialize each restore PVC's backup at DIR/<namespace>/<pvc>.img (needs --backupstore).")
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
		o.LonghornDrivers = []string{DefaultDriver}
	}
	if o.DefaultDriver == "" {
		o.DefaultDriver = DefaultDriver
	}
	if o.GCGracePeriod == 0 {
		o.GCGracePeriod = DefaultGCGracePeriod
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
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
	for _, d := range append(o.LonghornDrivers, o.DefaultDriver) {
		if msgs := validation.IsDNS1123Subdomain(d); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("CSI driver name %q: %s", d, strings.Join(msgs, "; ")))
		}
	}
	if o.GCGracePeriod <= 0 {
		errs = append(errs, fmt.Errorf("--gc-grace-period %s: expected a positive duration", o.GCGracePeriod))
	}
	if o.RestoreDir != "" {
		if o.Backupstore == "" {
			errs = append(errs, fmt.Errorf("--restore-dir %q: needs --backupstore", o.RestoreDir))
		}
		if !filepath.IsAbs(o.RestoreDir) {
			errs = append(errs, fmt.Errorf("--restore-dir %q: expected an absolute path", o.RestoreDir))
		}
	}
	if o.LeaderElectionNamespace != "" {
		if msgs := validation.IsDNS1123Label(o.LeaderElectionNamespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--leader-election-namespace %q: %s", o.LeaderElectionNamespace, strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
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

// Setup wires the webhook process onto mgr: the restore engine (backup
// pre-flight, sizes, background verification, --restore-dir), the validating
// and mutating handlers at the paths of paths.go (instrumented, see
// metrics.go), the orphan GC, and the /healthz (ping) and /readyz (webhook
// server started) checks. The manager's scheme must know core/v1 and
// snapshot.storage.k8s.io/v1. o should have passed Validate.
func Setup(mgr manager.Manager, o Options) error {
	o.SetDefaults()
	pre, err := SetupEngine(mgr, EngineOptions{Backupstore: o.Backupstore, RestoreDir: o.RestoreDir, Getenv: o.Getenv})
	if err != nil {
		return err
	}
	// A nil *Preflight checks nothing, but as an interface value it would not be
	// nil; pass a nil interface so the handlers see "no checker".
	var backups BackupChecker
	if pre != nil {
		backups = pre
	}
	v := NewValidatingHandlers(mgr, ValidateOptions{
		LonghornDrivers: o.LonghornDrivers,
		ProtectBackups:  o.ProtectBackups,
		Backups:         backups,
		Sizes:           pre.Sizes(),
	})
	mo := MutateOptions{DefaultDriver: o.DefaultDriver, GCGracePeriod: o.GCGracePeriod, Sizes: pre.Sizes(), Backups: backups}
	m := NewMutatingHandlers(mgr, mo)

	srv := mgr.GetWebhookServer()
	for _, r := range []struct {
		path, kind string
		h          admission.Handler
	}{
		{PathValidateVolumeSnapshots, reviewKindSnapshot, v.VolumeSnapshots},
		{PathValidateVolumeSnapshotContents, reviewKindContent, v.VolumeSnapshotContents},
		{PathValidateVolumeSnapshotClasses, reviewKindClass, v.VolumeSnapshotClasses},
		{PathValidatePVCs, reviewKindPVC, v.PersistentVolumeClaims},
		{PathMutateVolumeSnapshots, reviewKindSnapshot, m.VolumeSnapshots},
		{PathMutatePVCs, reviewKindPVC, m.PersistentVolumeClaims},
	} {
		srv.Register(r.path, &webhook.Admission{Handler: instrument(r.kind, r.h)})
	}
	if err := addScopeLog(mgr); err != nil {
		return fmt.Errorf("add scope log: %w", err)
	}
	if err := AddGC(mgr, mo); err != nil {
		return fmt.Errorf("add orphan GC: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("add /healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return fmt.Errorf("add /readyz check: %w", err)
	}
	return nil
}
