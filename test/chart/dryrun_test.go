package chart

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// apiServer is a real kube-apiserver with the snapshot CRDs (external-snapshotter client
// module) and the cert-manager CRDs (cert-manager module, deploy/crds), and the release
// namespace.
type apiServer struct {
	env        *envtest.Environment
	client     client.Client
	kubeconfig string // admin
}

func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	certManager, err := testenv.ModuleDir("", "github.com/cert-manager/cert-manager")
	if err != nil {
		t.Fatalf("%v; run go mod download", err)
	}
	// The chart's own CRDs (crds/: BackupSource, VolumePopulator), as helm installs them first.
	env := testenv.Start(t, testenv.Options{SnapshotCRDs: true, CRDDirs: []string{filepath.Join(certManager, "deploy", "crds"), filepath.Join(chartDir(t), "crds")}})
	cfg := env.Config
	for _, crd := range []string{"certificates.cert-manager.io", "issuers.cert-manager.io", "volumesnapshots.snapshot.storage.k8s.io", "backupsources.snaprestore.io", "volumepopulators.populator.storage.k8s.io"} {
		if !slicesContainsCRD(env, crd) {
			t.Fatalf("CRD %s was not installed", crd)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return &apiServer{env: env.Environment, client: c, kubeconfig: kubeconfig}
}

// TestOnAPIServer runs the chart's objects on one real API server: first every render as
// a server-side dry run, then the builtin-mode release for real with the webhook process
// running under the chart's ServiceAccount.
func TestOnAPIServer(t *testing.T) {
	s := startAPIServer(t)
	t.Run("server-side dry run", func(t *testing.T) { testServerSideDryRun(t, s) })
	t.Run("builtin release under its own RBAC", func(t *testing.T) { testBuiltinRelease(t, s) })
}

// testServerSideDryRun applies every object of every golden render with
// `kubectl apply --dry-run=server`, so each manifest is checked against the real schemas
// (built-in kinds, snapshot and cert-manager CRDs) and the API server's admission.
func testServerSideDryRun(t *testing.T, s *apiServer) {
	kubectl, kubeconfig := tool(t, "kubectl"), s.kubeconfig
	for _, rc := range renderCases {
		t.Run(rc.name, func(t *testing.T) {
			golden := filepath.Join("testdata", rc.name+".yaml")
			data, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, data)
			cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-o", "name", "-f", golden)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server -f %s: %v\n%s", golden, err, stderr.Bytes())
			}
			applied := strings.Fields(string(out))
			if len(applied) != len(objs) {
				t.Errorf("server dry-run applied %d objects, the render has %d:\n%s", len(applied), len(objs), out)
			}
			if stderr.Len() > 0 {
				t.Errorf("kubectl warned: %s", stderr.Bytes())
			}
		})
	}
}

func slicesContainsCRD(env *testenv.Env, name string) bool {
	for _, crd := range env.CRDs {
		if crd.Name == name {
			return true
		}
	}
	return false
}
