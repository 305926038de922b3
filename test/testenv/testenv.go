package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// SnapshotModule is the external-snapshotter client module whose config/crd holds the
// snapshot.storage.k8s.io CRDs.
const SnapshotModule = "github.com/kubernetes-csi/external-snapshotter/client/v8"

// ModuleDir is the directory of module in the build list, as `go list -m` reports it
// when run in from ("" is the current directory, which must be inside the snaprestore
// module).
func ModuleDir(from, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = from
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("find module %s with `go list -m` (run from the snaprestore module, with the module downloaded): %v %s", module, err, strings.TrimSpace(stderr.String()))
	}
	return dir, nil
}

// SnapshotCRDDir is config/crd of SnapshotModule, the version the project builds against.
func SnapshotCRDDir() (string, error) {
	dir, err := ModuleDir("", SnapshotModule)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "config", "crd"), nil
}

// NewScheme has the client-go kinds, snapshot.storage.k8s.io/v1 and the kinds of add.
func NewScheme(add ...func(*runtime.Scheme) error) *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(snapv1.AddToScheme(s))
	for _, f := range add {
		utilruntime.Must(f(s))
	}
	return s
}

// Assets is the absolute directory with the control plane binaries: dir, or
// $KUBEBUILDER_ASSETS when dir is empty. It fails, naming what is missing, unless
// etcd, kube-apiserver and the extra binaries are there.
func Assets(dir string, extra ...string) (string, error) {
	if dir == "" {
		dir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	names := append([]string{"etcd", "kube-apiserver"}, extra...)
	if dir == "" {
		last := len(names) - 1
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is not set; expected the directory with %s and %s that `make control-plane` builds (bin/)", strings.Join(names[:last], ", "), names[last])
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	var errs []error
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(abs, name)); err != nil {
			errs = append(errs, fmt.Errorf("control plane: %s not found in %s (KUBEBUILDER_ASSETS); expected the binaries `make control-plane` builds into bin/", name, abs))
		}
	}
	return abs, errors.Join(errs...)
}

// Options configure Start and StartEnv.
type Options struct {
	// Assets is the directory with etcd and kube-apiserver. Default $KUBEBUILDER_ASSETS.
	Assets string
	// Scheme is the one envtest installs CRDs and webhook configurations with.
	// Default NewScheme().
	Scheme *runtime.Scheme
	// SnapshotCRDs installs the CRDs of SnapshotCRDDir.
	SnapshotCRDs bool
	// CRDDirs are further directories of CRD manifests; each must exist.
	CRDDirs []string
	// Webhooks are the webhook configurations to install and where their server
	// listens (envtest fills in LocalServing* it leaves empty).
	Webhooks envtest.WebhookInstallOptions
}

// StartEnv starts etcd and kube-apiserver with the CRDs and webhook configurations of
// o. The caller stops the environment.
func StartEnv(o Options) (*envtest.Environment, *rest.Config, error) {
	assets, err := Assets(o.Assets)
	if err != nil {
		return nil, nil, err
	}
	if o.Scheme == nil {
		o.Scheme = NewScheme()
	}
	dirs := o.CRDDirs
	if o.SnapshotCRDs {
		crds, err := SnapshotCRDDir()
		if err != nil {
			return nil, nil, err
		}
		dirs = append([]string{crds}, dirs...)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     dirs,
		ErrorIfCRDPathMissing: len(dirs) > 0,
		Scheme:                o.Scheme,
		WebhookInstallOptions: o.Webhooks,
	}
	// envtest prefers KUBEBUILDER_ASSETS over BinaryAssetsDirectory.
	if err := os.Setenv("KUBEBUILDER_ASSETS", assets); err != nil {
		return nil, nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("start etcd and kube-apiserver from %s: %w", assets, err)
	}
	return env, cfg, nil
}

// Env is a running control plane of a test.
type Env struct {
	*envtest.Environment
	// Config reaches the API server as an admin.
	Config *rest.Config
}

// Start starts the control plane of o for t and stops it when t ends. It fails t
// when KUBEBUILDER_ASSETS or a binary or CRD directory is missing: a test that needs
// the control plane never skips.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	env, cfg, err := StartEnv(o)
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	return &Env{Environment: env, Config: cfg}
}

// Run runs start until t ends, then cancels its context and fails t if start
// returned an error.
func Run(t testing.TB, start func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%T stopped: %v", start, err)
		}
	})
}

// RunManager runs mgr until t ends and fails t if it stops with an error.
func RunManager(t testing.TB, mgr manager.Manager) {
	t.Helper()
	Run(t, mgr.Start)
}

// Logger discards, or writes to stderr with verbosity 1 under go test -v, so a
// failing control-plane test can be rerun with the manager's log.
func Logger() logr.Logger {
	if !testing.Verbose() {
		return logr.Discard()
	}
	return funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: 1})
}
