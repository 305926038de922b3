package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// Options configure Start. Assets, Binary, ModuleDir and WorkDir are required.
type Options struct {
	// Assets is the directory with etcd, kube-apiserver and kubectl
	// (KUBEBUILDER_ASSETS; bin/ after make control-plane).
	Assets string
	// Binary is the snaprestore binary the webhook runs from.
	Binary string
	// ModuleDir is a directory inside the snaprestore module; the snapshot CRDs
	// are found from it with go list.
	ModuleDir string
	// WorkDir receives the kubeconfig, the serving certificate, kubectl's cache
	// and the webhook's log (webhook.log). The caller owns and removes it.
	WorkDir string
	// StripCEL installs the CRDs without their x-kubernetes-validations rules.
	StripCEL bool
	// WebhookArgs are extra flags of `snaprestore webhook`, e.g. --backupstore.
	WebhookArgs []string
	// CRDDirs are more directories of CRDs to install (the chart's crds/).
	CRDDirs []string
	// ReadyWithin bounds the wait for the webhook to serve and for the API server
	// to call it. Default 2m: generous for a loaded 2-core machine.
	ReadyWithin time.Duration
}

// Cluster is a running control plane with the snaprestore webhook registered.
// Stop releases it.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig for the API server.
	Kubeconfig string
	// Config is the same as a rest.Config.
	Config *rest.Config
	// Client reads and writes core and snapshot.storage.k8s.io/v1 objects.
	Client client.Client
	// WebhookURL is the webhook server's base URL (https://127.0.0.1:<port>).
	WebhookURL string
	// CABundle is the PEM CA that signed the webhook's serving certificate.
	CABundle []byte
	// MetricsURL is the webhook's /metrics endpoint: HTTPS, and a scrape needs a token
	// allowed to GET /metrics (Scrape, MetricsToken).
	MetricsURL string
	// ProbeURL is the base URL of the webhook's /healthz and /readyz.
	ProbeURL string
	// WebhookLog is the path of the webhook process's output.
	WebhookLog string

	assets   string
	cacheDir string
	env      *envtest.Environment
	proc     *exec.Cmd
	procDone chan error
	// metricsToken is MetricsReader's token (grantMetrics).
	metricsToken string
	// apiServer is the kube-apiserver RestartAPIServer started, nil before.
	apiServer     *exec.Cmd
	apiServerDone chan error
}

// Start starts etcd and kube-apiserver with the snapshot CRDs, then `snaprestore
// webhook` as a separate process on loopback, registers the webhook
// configurations of the shared contract, and returns once the API server calls
// the webhook. On error everything started is stopped again.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.ReadyWithin == 0 {
		o.ReadyWithin = 2 * time.Minute
	}
	crds, err := SnapshotCRDs(o.ModuleDir, o.StripCEL)
	if err != nil {
		return nil, err
	}
	c := &Cluster{assets: o.Assets, cacheDir: filepath.Join(o.WorkDir, "kubectl-cache"), WebhookLog: filepath.Join(o.WorkDir, "webhook.log")}
	// envtest's own start bound (20 s) is short for `make test` on two busy cores.
	c.env = &envtest.Environment{BinaryAssetsDirectory: o.Assets, CRDs: crds, CRDDirectoryPaths: o.CRDDirs, ErrorIfCRDPathMissing: true,
		ControlPlaneStartTimeout: o.ReadyWithin, ControlPlaneStopTimeout: time.Minute}
	if c.Config, err = c.env.Start(); err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver from %s: %w", o.Assets, err)
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	c.Kubeconfig = filepath.Join(o.WorkDir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.env.KubeConfig, 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: testenv.NewScheme()}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	certDir := filepath.Join(o.WorkDir, "serving-certs")
	if c.CABundle, err = ServingCert(certDir); err != nil {
		return nil, err
	}
	if err := c.grantMetrics(ctx); err != nil {
		return nil, err
	}
	if err := c.startWebhook(o, certDir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.ReadyWithin)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	// CRDs without CEL rules call for every snapshot to be sent, as the chart's
	// webhook.matchAllSnapshots.
	if err := c.register(ctx, o.StripCEL); err != nil {
		return nil, err
	}
	return c, nil
}

func (o Options) check() error {
	var errs []error
	if o.Assets == "" {
		errs = append(errs, errors.New("no control plane binaries: set KUBEBUILDER_ASSETS to the directory with etcd, kube-apiserver and kubectl (make control-plane builds them into bin/)"))
	} else if _, err := testenv.Assets(o.Assets, "kubectl"); err != nil {
		errs = append(errs, err)
	}
	if _, err := os.Stat(o.Binary); err != nil {
		errs = append(errs, fmt.Errorf("snaprestore binary: %w", err))
	}
	if o.ModuleDir == "" || o.WorkDir == "" {
		errs = append(errs, errors.New("cluster.Options: ModuleDir and WorkDir are required"))
	}
	return errors.Join(errs...)
}

// startWebhook runs `snaprestore webhook` with loopback addresses on free ports.
func (c *Cluster) startWebhook(o Options, certDir string) error {
	ports, err := testenv.FreePorts(3)
	if err != nil {
		return err
	}
	c.WebhookURL = "https://127.0.0.1:" + strconv.Itoa(ports[0])
	c.MetricsURL = "https://127.0.0.1:" + strconv.Itoa(ports[1]) + "/metrics"
	c.ProbeURL = "http://127.0.0.1:" + strconv.Itoa(ports[2])
	args := append([]string{"webhook",
		"--kubeconfig", c.Kubeconfig,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--cert-dir", certDir,
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(ports[1]),
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(ports[2]),
	}, o.WebhookArgs...)
	log, err := os.Create(c.WebhookLog)
	if err != nil {
		return err
	}
	c.proc = exec.Command(o.Binary, args...)
	c.proc.Stdout, c.proc.Stderr = log, log
	if err := c.proc.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", o.Binary, err)
	}
	c.procDone = make(chan error, 1)
	go func() {
		c.procDone <- c.proc.Wait()
		log.Close()
	}()
	return nil
}

// Stop stops the webhook process (SIGTERM, then SIGKILL after 30 s) and the
// control plane.
func (c *Cluster) Stop() error {
	var errs []error
	if c.proc != nil && c.proc.Process != nil {
		_ = c.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.procDone:
		case <-time.After(30 * time.Second):
			_ = c.proc.Process.Kill()
			<-c.procDone
			errs = append(errs, fmt.Errorf("snaprestore webhook did not stop within 30s of SIGTERM; killed (log %s)", c.WebhookLog))
		}
	}
	if err := c.stopRestartedAPIServer(); err != nil {
		errs = append(errs, err)
	}
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop control plane: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Exited reports whether the webhook process has exited, and how.
func (c *Cluster) Exited() (bool, error) {
	select {
	case err := <-c.procDone:
		c.procDone <- err // keep it for Stop and later calls
		return true, err
	default:
		return false, nil
	}
}

// LogTail is the end of the webhook's log, for error messages.
func (c *Cluster) LogTail() string {
	b, err := os.ReadFile(c.WebhookLog)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// Result is one kubectl run.
type Result struct {
	Stdout, Stderr string
	// Exit is kubectl's exit status.
	Exit int
}

// Kubectl runs the real kubectl from Assets in dir with stdin, against the
// cluster (KUBECONFIG in its environment, so args read as a user types them).
func (c *Cluster) Kubectl(ctx context.Context, dir, stdin string, args ...string) (Result, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.assets, "kubectl"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "KUBECACHEDIR="+c.cacheDir)
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Exit = exit.ExitCode()
	case err != nil:
		return r, fmt.Errorf("run kubectl: %w", err)
	}
	return r, nil
}

// MustKubectl runs Kubectl in a temporary directory of t and fails t unless kubectl ran
// and exited 0; it returns stdout.
func (c *Cluster) MustKubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	r, err := c.Kubectl(context.Background(), t.TempDir(), stdin, args...)
	if err != nil || r.Exit != 0 {
		t.Fatalf("kubectl %s: exit %d, %v\n%s%s", strings.Join(args, " "), r.Exit, err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}
