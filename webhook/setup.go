package webhook

import (
	"crypto/tls"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/webhook/populator"
	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
	"github.com/snaprestore/snaprestore/webhook/verify"
)

// CacheOptions are the manager cache options for Setup's handlers: cached objects
// drop metadata.managedFields, which no rule reads and every cache read would
// otherwise deep-copy (about a third of a PVC review's allocations).
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
}

// NewScheme is the scheme of the webhook process: client-go's kinds (core/v1,
// storage/v1, ...), snapshot.storage.k8s.io/v1 and the BackupSource kind
// (snaprestore.io/v1alpha1).
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := snapv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// NewManager builds the manager of the webhook process from o's manager-level fields
// (addresses, cert dir) with scheme (NewScheme's kinds at least): the one construction
// `snaprestore webhook` and the admission benchmark share. tlsOpts adjust the serving
// TLS configuration (certs.Setup's). It never elects a leader itself: with
// --leader-elect, Setup runs the leader-only work on managers of its own (leaderTerms),
// so that losing the Lease does not stop admission. o should have passed Validate.
func NewManager(cfg *rest.Config, scheme *runtime.Scheme, o Options, tlsOpts []func(*tls.Config)) (manager.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  CacheOptions(),
		WebhookServer:          webhook.NewServer(o.ServerOptions(tlsOpts)),
		Metrics:                o.MetricsOptions(tlsOpts),
		HealthProbeBindAddress: o.HealthProbeBindAddress,
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	return mgr, nil
}

// Setup wires the webhook process onto mgr (from NewManager): with --backupstore the
// backup pre-flight; the validating and mutating handlers at the paths of paths.go;
// the /healthz (ping) and /readyz (webhook server started) checks; and the leader-only
// work: with --backupstore the background verifier (package verify), the orphan GC,
// with --populator the volume populator, and leaderWork (the builtin certificate
// authority). Without --leader-elect the leader-only work runs on mgr; with it, on
// one manager per leadership term (leaderTerms). o should have passed Validate.
func Setup(mgr manager.Manager, o Options, leaderWork ...func(manager.Manager) error) error {
	o.SetDefaults()
	ho := o.HandlerOptions()
	if o.Backupstore != "" {
		st, err := restore.OpenStore(o.Backupstore, restore.StoreOptions{Getenv: o.Getenv})
		if err != nil {
			return fmt.Errorf("--backupstore: %w", err)
		}
		leaderWork = append(leaderWork, func(m manager.Manager) error {
			return verify.Add(m, verify.Options{Store: st, LonghornDrivers: o.LonghornDrivers})
		})
		ho.Backups = NewPreflight(st, 0)
	}
	v := NewValidatingHandlers(mgr, ho)
	m := NewMutatingHandlers(mgr, ho)
	srv := mgr.GetWebhookServer()
	for path, h := range map[string]admission.Handler{
		PathValidateVolumeSnapshots:        v.VolumeSnapshots,
		PathValidateVolumeSnapshotContents: v.VolumeSnapshotContents,
		PathValidateVolumeSnapshotClasses:  v.VolumeSnapshotClasses,
		PathValidatePVCs:                   v.PersistentVolumeClaims,
		PathMutateVolumeSnapshots:          m.VolumeSnapshots,
		PathMutatePVCs:                     m.PersistentVolumeClaims,
	} {
		srv.Register(path, &webhook.Admission{Handler: h})
	}
	for path, wh := range backupSourceWebhooks(mgr.GetScheme(), mgr.GetAPIReader(), reviewSecretAccess(mgr.GetClient()), ho.Backups) {
		srv.Register(path, wh)
	}
	if err := addScopeLog(mgr); err != nil {
		return fmt.Errorf("add scope log: %w", err)
	}
	leaderWork = append(leaderWork, func(m manager.Manager) error {
		if err := AddGC(m, o.GCGracePeriod); err != nil {
			return fmt.Errorf("add orphan GC: %w", err)
		}
		return nil
	})
	if o.Populator.Enabled {
		po := o.Populator
		po.Backupstore = o.Backupstore
		leaderWork = append(leaderWork, func(m manager.Manager) error {
			if err := populator.Add(m, po); err != nil {
				return fmt.Errorf("add volume populator: %w", err)
			}
			return nil
		})
	}
	if err := addLeaderWork(mgr, o, leaderWork); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("add /healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return fmt.Errorf("add /readyz check: %w", err)
	}
	return nil
}
