package chart

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Release the goldens are rendered as.
const (
	release   = "snaprestore"
	namespace = "snaprestore"
	// kubeVersion matches the control plane in bin/ (hack/tools/go.mod).
	kubeVersion = "1.37.0"
)

// renderCase is one set of values and its golden file.
type renderCase struct {
	name string
	set  []string // --set arguments
}

var renderCases = []renderCase{
	{name: "certmanager"},
	{name: "builtin", set: []string{"certs.mode=builtin"}},
	{name: "certmanager-clusterissuer", set: []string{
		"certs.certManager.issuerRef.name=cluster-ca", "certs.certManager.issuerRef.kind=ClusterIssuer",
		"backupstore.url=s3://backups@us-east-1/", "backupstore.credentialSecret=longhorn-backup-target",
		"longhorn.drivers={driver.longhorn.io,io.rancher.longhorn}", "protectBackups=true", "gcGracePeriod=5m",
		"webhook.failurePolicy=Ignore", "replicas=1", "populator.block.runAsUser=65532",
	}},
	{name: "file-backupstore", set: []string{
		"certs.mode=builtin", "backupstore.url=file:///backups", "webhook.matchAllSnapshots=true",
		"extraVolumes[0].name=backups", "extraVolumes[0].nfs.server=nfs.example.com", "extraVolumes[0].nfs.path=/exports/longhorn",
		"extraVolumeMounts[0].name=backups", "extraVolumeMounts[0].mountPath=/backups", "extraVolumeMounts[0].readOnly=true",
	}},
}

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tool returns bin/<name>, failing the test when it was not built.
func tool(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(root(t), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found (%v): build it with `make %s` (make test does)", p, err, p)
	}
	return p
}

func chartDir(t *testing.T) string { return filepath.Join(root(t), "charts", "snaprestore") }

func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool(t, "helm"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

func render(t *testing.T, c renderCase) []byte {
	t.Helper()
	args := []string{"template", release, chartDir(t), "--namespace", namespace, "--kube-version", kubeVersion}
	for _, s := range c.set {
		args = append(args, "--set", s)
	}
	return helm(t, args...)
}

func TestLint(t *testing.T) {
	t.Parallel()
	for _, c := range renderCases {
		args := []string{"lint", "--strict", "--kube-version", kubeVersion, chartDir(t)}
		for _, s := range c.set {
			args = append(args, "--set", s)
		}
		out := helm(t, args...)
		if !bytes.Contains(out, []byte("1 chart(s) linted, 0 chart(s) failed")) {
			t.Errorf("helm lint (%s) did not pass:\n%s", c.name, out)
		}
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ set, want string }{
		{"certs.mode=vault", "/certs/mode"},
		{"webhook.failurePolicy=Deny", "/webhook/failurePolicy"},
		{"gcGracePeriod=soon", "/gcGracePeriod"},
		{"backupstore.url=nfs://server/path", "/backupstore/url"},
		{"replicas=0", "/replicas"},
		{"webhook.timeoutSeconds=31", "/webhook/timeoutSeconds"},
		{"typo=1", "additional properties 'typo' not allowed"},
		{"populator.block.runAsUser=-1", "/populator/block/runAsUser"},
	} {
		cmd := exec.Command(tool(t, "helm"), "template", release, chartDir(t), "--set", tc.set)
		out, err := cmd.CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("helm template --set %s: err %v, output %q; want a schema error naming %q", tc.set, err, out, tc.want)
		}
	}
}

// TestGolden compares each render with testdata/<case>.yaml; -update rewrites them.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, c := range renderCases {
		got := render(t, c)
		path := filepath.Join("testdata", c.name+".yaml")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read golden: %v (run go test ./test/chart -update to create it)", err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("render %s differs from %s (-want +got); rerun with -update if intended:\n%s", c.name, path, diff)
		}
	}
}

// scheme knows every kind the chart renders, for strict decoding.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(cmv1.AddToScheme(s))
	utilruntime.Must(addVolumePopulator(s))
	return s
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decode splits a render into typed objects. Every field must exist in the Go type of
// its kind (strict), so a misspelled or misplaced field fails here.
func decode(t *testing.T, rendered []byte) []client.Object {
	t.Helper()
	s := scheme()
	var objs []client.Object
	for i, doc := range docSep.Split(string(rendered), -1) {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		if len(u.Object) == 0 {
			continue
		}
		gvk := u.GroupVersionKind()
		typed, err := s.New(gvk)
		if err != nil {
			t.Fatalf("document %d: kind %s is not known to the test scheme: %v", i, gvk, err)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), typed); err != nil {
			t.Fatalf("document %d (%s %s): %v", i, gvk.Kind, u.GetName(), err)
		}
		objs = append(objs, typed.(client.Object))
	}
	return objs
}

// byKind indexes the objects as "Kind/name".
func byKind(objs []client.Object) map[string]client.Object {
	m := map[string]client.Object{}
	for _, o := range objs {
		m[fmt.Sprintf("%T/%s", o, o.GetName())] = o
	}
	return m
}
