package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/test/testenv"
	"github.com/snaprestore/snaprestore/webhook"
)

// PathNoop is the reference path: the same server and admission plumbing
// (decode the AdmissionReview, encode the response) with a handler that
// allows everything.
const PathNoop = "/noop"

// Options configures Start.
type Options struct {
	// Assets is the directory with kube-apiserver and etcd. Default
	// $KUBEBUILDER_ASSETS, else bin.
	Assets string
	// Webhook configures the handlers as the flags of `snaprestore webhook`
	// do; the server's address, certificates, metrics and probes are set by
	// Start (loopback, generated certificate, disabled).
	Webhook webhook.Options
	// TLSOpts adjust the webhook server's TLS configuration (as certs.Setup's
	// do in `snaprestore webhook`). Default none: controller-runtime's (HTTP/2
	// offered through ALPN).
	TLSOpts []func(*tls.Config)
}

// Env is a running control plane with the webhook server on loopback.
type Env struct {
	// Config reaches the API server; QPS limits are lifted for load.
	Config *rest.Config
	// Client is a live (uncached) controller-runtime client.
	Client client.Client
	// Manager serves the handlers; its cache backs their cross-object reads.
	Manager ctrl.Manager
	// URL is the webhook server's base URL (https://127.0.0.1:port).
	URL string
	// CAData is the PEM CA that signed the serving certificate.
	CAData []byte
	// Calls counts the reviews served per path (real paths and PathNoop).
	Calls map[string]*atomic.Int64
	// Handlers are the HTTP handlers registered per path (AdmissionReview in,
	// AdmissionReview out), counted in Calls.
	Handlers map[string]http.Handler
	// LiveReads counts the handlers' uncached reads (Get and List through
	// the manager's API reader): cache misses confirmed against the API server.
	LiveReads atomic.Int64

	stop func() error
}

// Start brings up etcd, kube-apiserver with the snapshot CRDs, and a manager
// wired by webhook.Setup as `snaprestore webhook` wires it: the real handlers
// on the paths of webhook/paths.go (with snaprestore's metrics) and the orphan
// GC, plus PathNoop. The caller must call Stop.
func Start(ctx context.Context, o Options) (*Env, error) {
	ctrl.SetLogger(logr.Discard())
	assets := o.Assets
	if assets == "" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
		assets = "bin"
	}
	scheme := testenv.NewScheme()
	te, cfg, err := testenv.StartEnv(testenv.Options{
		Assets:       assets,
		Scheme:       scheme,
		SnapshotCRDs: true,
		Webhooks:     envtest.WebhookInstallOptions{LocalServingHost: "127.0.0.1"},
	})
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: the benchmark is the load
	e := &Env{Config: cfg, CAData: te.WebhookInstallOptions.LocalServingCAData, Calls: map[string]*atomic.Int64{}, Handlers: map[string]http.Handler{}}
	e.stop = te.Stop
	fail := func(err error) (*Env, error) {
		return nil, errors.Join(err, e.Stop())
	}
	wo := te.WebhookInstallOptions
	wopts := o.Webhook
	wopts.BindAddress, wopts.Port, wopts.CertDir = wo.LocalServingHost, wo.LocalServingPort, wo.LocalServingCertDir
	wopts.MetricsBindAddress, wopts.HealthProbeBindAddress = "0", "0"
	wopts.SetDefaults()
	if err := wopts.Validate(); err != nil {
		return fail(fmt.Errorf("webhook options: %w", err))
	}
	mgr, err := webhook.NewManager(cfg, scheme, wopts, o.TLSOpts)
	if err != nil {
		return fail(err)
	}
	e.Manager = mgr
	e.URL = "https://" + net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort))
	srv := countingServer{Server: mgr.GetWebhookServer(), env: e}
	counting := countingManager{Manager: mgr, srv: srv, live: countingReader{Reader: mgr.GetAPIReader(), n: &e.LiveReads}}
	if err := webhook.Setup(counting, wopts); err != nil {
		return fail(fmt.Errorf("webhook setup: %w", err))
	}
	srv.Register(PathNoop, &ctrlwebhook.Admission{Handler: admission.HandlerFunc(allow)})
	for _, p := range []string{webhook.PathValidateVolumeSnapshots, webhook.PathValidateVolumeSnapshotContents, webhook.PathValidateVolumeSnapshotClasses,
		webhook.PathValidatePVCs, webhook.PathMutateVolumeSnapshots, webhook.PathMutatePVCs} {
		if e.Handlers[p] == nil {
			return fail(fmt.Errorf("webhook.Setup registered no handler on %s; expected every path of webhook/paths.go", p))
		}
	}
	// The informers the rules read through are started before any review, so
	// that every lookup hits a warm cache.
	for _, obj := range []client.Object{&snapv1.VolumeSnapshot{}, &snapv1.VolumeSnapshotContent{}, &snapv1.VolumeSnapshotClass{}, &storagev1.StorageClass{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fail(fmt.Errorf("informer for %T: %w", obj, err))
		}
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	e.stop = func() error {
		cancel()
		return errors.Join(<-done, te.Stop())
	}
	started := mgr.GetWebhookServer().StartedChecker()
	for started(&http.Request{}) != nil {
		select {
		case err := <-done:
			done <- err
			return fail(fmt.Errorf("manager stopped before the webhook server started: %w", err))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fail(errors.New("manager cache did not sync"))
	}
	if e.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fail(fmt.Errorf("client: %w", err))
	}
	return e, nil
}

// Stop shuts down the manager and the control plane.
func (e *Env) Stop() error {
	return e.stop()
}

// countingManager hands webhook.Setup a webhook server and an API reader
// that count what passes through them.
type countingManager struct {
	manager.Manager
	srv  countingServer
	live client.Reader
}

func (m countingManager) GetAPIReader() client.Reader          { return m.live }
func (m countingManager) GetWebhookServer() ctrlwebhook.Server { return m.srv }

// countingServer counts the requests of every path registered on it.
type countingServer struct {
	ctrlwebhook.Server
	env *Env
}

func (s countingServer) Register(path string, hook http.Handler) {
	n := new(atomic.Int64)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		hook.ServeHTTP(w, r)
	})
	s.env.Calls[path], s.env.Handlers[path] = n, h
	s.Server.Register(path, h)
}

// countingReader counts the Gets and Lists of an uncached reader.
type countingReader struct {
	client.Reader
	n *atomic.Int64
}

func (r countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.n.Add(1)
	return r.Reader.Get(ctx, key, obj, opts...)
}

func (r countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	r.n.Add(1)
	return r.Reader.List(ctx, list, opts...)
}

func allow(context.Context, admission.Request) admission.Response {
	return admission.Allowed("")
}
