package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// ErrProcessExited is returned by Stop when kube-controller-manager or
// kube-scheduler ended before the agent stopped it.
var ErrProcessExited = testenv.ErrProcessExited

// controllers are the kube-controller-manager controllers the agent runs: all of
// the default set except the token controller, which needs a signing key the test
// API server does not hand out (and its admission plugin is off in envtest).
const controllers = "*,-serviceaccount-token"

// writeKubeconfig writes an admin kubeconfig of cfg to path, for the processes.
func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData,
		CertificateAuthority: cfg.CAFile, InsecureSkipTLSVerify: cfg.Insecure}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData,
		ClientCertificate: cfg.CertFile, ClientKey: cfg.KeyFile, Token: cfg.BearerToken, TokenFile: cfg.BearerTokenFile,
		Username: cfg.Username, Password: cfg.Password}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	kc.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// componentArgs are the flags of kube-controller-manager (kcm) or kube-scheduler:
// no serving port, leader election on (its Lease tells when the component runs).
func componentArgs(name, kubeconfig string) []string {
	args := []string{"--kubeconfig=" + kubeconfig, "--secure-port=0", "--leader-elect=true", "--v=2"}
	if name == "kube-controller-manager" {
		args = append(args, "--controllers="+controllers, "--use-service-account-credentials=false",
			"--node-monitor-period=2s")
	}
	return args
}

// waitLeader waits until the component's leader-election Lease in kube-system has a
// holder, or the process exits, or ctx ends.
func waitLeader(ctx context.Context, c client.Reader, p *testenv.Process, logPath string) error {
	key := client.ObjectKey{Namespace: "kube-system", Name: p.Name}
	for {
		var l coordinationv1.Lease
		err := c.Get(ctx, key, &l)
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%w: %s: %v; see %s", ErrProcessExited, p.Name, p.Err(), logPath)
		case <-ctx.Done():
			return fmt.Errorf("%s did not take its leader Lease %s: %w; see %s", p.Name, key, ctx.Err(), logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// binaryPath is name in assets, or an error naming what is expected.
func binaryPath(assets, name string) (string, error) {
	p := filepath.Join(assets, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("control plane: %s not found in %s (KUBEBUILDER_ASSETS); expected the binaries `make control-plane` builds into bin/", name, assets)
	}
	return p, nil
}
