package chart

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/snaprestore/snaprestore/certs"
	"github.com/snaprestore/snaprestore/webhook"
)

// testBuiltinRelease installs the builtin-mode render for real and runs
// `snaprestore webhook` with the Deployment's args as the chart's ServiceAccount
// (impersonated), so the process has exactly the chart's RBAC. The leader must elect
// itself, bootstrap the Secrets, publish the caBundle in every webhook, serve a
// certificate for the Service's names, start its controllers, and never be forbidden.
func testBuiltinRelease(t *testing.T, s *apiServer) {
	golden := filepath.Join("testdata", "builtin.yaml") // what helm installs (TestGolden)
	helmOn(t, s, "install", release, chartDir(t), "--namespace", namespace, "--set", "certs.mode=builtin")
	var dep *appsv1.Deployment
	for _, o := range decode(t, mustRead(t, golden)) {
		if d, ok := o.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	sa := dep.Spec.Template.Spec.ServiceAccountName

	binary := filepath.Join(t.TempDir(), "snaprestore")
	build := exec.Command("go", "build", "-o", binary, "./cmd/snaprestore")
	build.Dir = root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/snaprestore: %v\n%s", err, out)
	}
	kubeconfig := impersonating(t, s.env.KubeConfig, fmt.Sprintf("system:serviceaccount:%s:%s", namespace, sa),
		"system:serviceaccounts", "system:serviceaccounts:"+namespace, "system:authenticated")

	port, probePort := freePort(t), freePort(t)
	// The Deployment's args; later flags override the listen addresses for this host.
	args := append(dep.Spec.Template.Spec.Containers[0].Args,
		"--kubeconfig="+kubeconfig, "--bind-address=127.0.0.1", "--port="+strconv.Itoa(port),
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probePort), "--metrics-bind-address=0",
		"--cert-reload-interval=200ms")
	var logs syncBuffer
	proc := exec.Command(binary, args...)
	proc.Env = append(os.Environ(), "POD_NAMESPACE="+namespace)
	proc.Stdout, proc.Stderr = &logs, &logs
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	t.Cleanup(func() {
		_ = proc.Process.Signal(syscall.SIGTERM)
		<-exited
		if t.Failed() {
			t.Logf("snaprestore webhook output:\n%s", logs.String())
		}
	})
	alive := func() {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("snaprestore webhook exited: %v\n%s", err, logs.String())
		default:
		}
	}

	ctx := context.Background()
	poll(t, "readyz", func() bool {
		alive()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	var caSecret string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--ca-secret="); ok {
			caSecret = v
		}
	}
	var bundle []byte
	poll(t, "the CA bundle in every webhook of both configurations", func() bool {
		alive()
		var ca corev1.Secret
		if err := s.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: caSecret}, &ca); err != nil {
			return false
		}
		bundle = ca.Data["ca.crt"]
		var v admissionregv1.ValidatingWebhookConfiguration
		var m admissionregv1.MutatingWebhookConfiguration
		if s.client.Get(ctx, types.NamespacedName{Name: release}, &v) != nil || s.client.Get(ctx, types.NamespacedName{Name: release}, &m) != nil {
			return false
		}
		var got [][]byte
		for _, w := range v.Webhooks {
			got = append(got, w.ClientConfig.CABundle)
		}
		for _, w := range m.Webhooks {
			got = append(got, w.ClientConfig.CABundle)
		}
		for _, b := range got {
			if len(bundle) == 0 || !bytes.Equal(b, bundle) {
				return false
			}
		}
		return len(got) == len(wantValidating)+len(wantMutating)
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		t.Fatalf("the CA Secret's ca.crt holds no certificate")
	}
	for _, name := range certs.DNSNames(release, namespace) {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{ServerName: name, RootCAs: roots})
		if err != nil {
			t.Errorf("TLS handshake as %s: %v", name, err)
			continue
		}
		_ = conn.Close()
	}
	var lease coordinationv1.Lease
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: webhook.LeaderElectionID}, &lease); err != nil || deref(lease.Spec.HolderIdentity) == "" {
		t.Errorf("leader election Lease %s/%s: %v, holder %q", namespace, webhook.LeaderElectionID, err, deref(lease.Spec.HolderIdentity))
	}
	// Controllers log "Starting workers" once their informers synced: every list and
	// watch they need was allowed.
	poll(t, "the controllers to start", func() bool {
		alive()
		return strings.Contains(logs.String(), "Starting workers")
	})
	// The handlers' reads start more informers on first use (StorageClasses, classes):
	// one dry-run review per path exercises them.
	for _, r := range reviewsPerPath() {
		code, resp := review(t, port, roots, r.path, r.req)
		if code != http.StatusOK || resp == nil || resp.UID != r.req.UID {
			t.Errorf("review on %s: HTTP %d, response %+v; want 200 with UID %s", r.path, code, resp, r.req.UID)
		}
	}
	if out := logs.String(); strings.Contains(out, "forbidden") {
		t.Errorf("the webhook was forbidden something under the chart's RBAC:\n%s", grepLines(out, "forbidden"))
	}

	// helm upgrade keeps the caBundle the webhook published (a field Helm never set), and
	// helm uninstall removes both webhook configurations.
	helmOn(t, s, "upgrade", release, chartDir(t), "--namespace", namespace, "--reuse-values", "--set", "webhook.timeoutSeconds=7")
	for _, w := range webhookBundles(t, s) {
		if w.timeout != 7 || !bytes.Equal(w.bundle, bundle) {
			t.Errorf("after helm upgrade, webhook %s has timeoutSeconds %d and a caBundle of %d bytes; want 7 and the published %d bytes",
				w.name, w.timeout, len(w.bundle), len(bundle))
		}
	}
	helmOn(t, s, "uninstall", release, "--namespace", namespace)
	var v admissionregv1.ValidatingWebhookConfiguration
	var m admissionregv1.MutatingWebhookConfiguration
	if err := s.client.Get(ctx, types.NamespacedName{Name: release}, &v); !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall, ValidatingWebhookConfiguration %s: %v; want it deleted", release, err)
	}
	if err := s.client.Get(ctx, types.NamespacedName{Name: release}, &m); !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall, MutatingWebhookConfiguration %s: %v; want it deleted", release, err)
	}
}

type webhookBundle struct {
	name    string
	timeout int32
	bundle  []byte
}

// webhookBundles lists every webhook of both configurations of the release.
func webhookBundles(t *testing.T, s *apiServer) []webhookBundle {
	t.Helper()
	ctx := context.Background()
	var v admissionregv1.ValidatingWebhookConfiguration
	var m admissionregv1.MutatingWebhookConfiguration
	if err := s.client.Get(ctx, types.NamespacedName{Name: release}, &v); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Get(ctx, types.NamespacedName{Name: release}, &m); err != nil {
		t.Fatal(err)
	}
	var out []webhookBundle
	for _, w := range v.Webhooks {
		out = append(out, webhookBundle{w.Name, deref(w.TimeoutSeconds), w.ClientConfig.CABundle})
	}
	for _, w := range m.Webhooks {
		out = append(out, webhookBundle{w.Name, deref(w.TimeoutSeconds), w.ClientConfig.CABundle})
	}
	return out
}

// helmOn runs bin/helm against the test API server, with its state in a temporary home.
func helmOn(t *testing.T, s *apiServer, args ...string) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(tool(t, "helm"), append(args, "--kubeconfig", s.kubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// impersonating writes a copy of the admin kubeconfig that acts as user in groups.
func impersonating(t *testing.T, admin []byte, user string, groups ...string) string {
	t.Helper()
	cfg, err := clientcmd.Load(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate, ai.ImpersonateGroups = user, groups
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-"+strings.ReplaceAll(user, ":", "-"))
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

type pathReview struct {
	path string
	req  *admissionv1.AdmissionRequest
}

// reviewsPerPath is one dry-run CREATE request for each webhook path, with objects that
// make the handler look things up (a snapshot's class, a PVC's StorageClass and source).
func reviewsPerPath() []pathReview {
	req := func(uid, kind, resource, group, ns, name, object string) *admissionv1.AdmissionRequest {
		gvk := metav1GVK(group, "v1", kind)
		return &admissionv1.AdmissionRequest{
			UID: types.UID(uid), Kind: gvk, RequestKind: &gvk, Namespace: ns, Name: name,
			Resource:  metav1GVR(group, "v1", resource),
			Operation: admissionv1.Create, DryRun: ptrTo(true),
			Object: runtimeRaw(object),
		}
	}
	snap := `{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","metadata":{"name":"s","namespace":"apps"},
		"spec":{"volumeSnapshotClassName":"longhorn","source":{"volumeSnapshotContentName":"c"}}}`
	content := `{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotContent","metadata":{"name":"c"},
		"spec":{"driver":"driver.longhorn.io","deletionPolicy":"Retain","volumeSnapshotClassName":"longhorn",
		"source":{"snapshotHandle":"bak://vol/backup-1"},"volumeSnapshotRef":{"name":"s","namespace":"apps"}}}`
	class := `{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotClass","metadata":{"name":"longhorn",
		"annotations":{"snapshot.storage.kubernetes.io/is-default-class":"true"}},"driver":"driver.longhorn.io","deletionPolicy":"Retain"}`
	pvc := `{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"p","namespace":"apps"},
		"spec":{"storageClassName":"longhorn","accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}},
		"dataSource":{"apiGroup":"snapshot.storage.k8s.io","kind":"VolumeSnapshot","name":"s"}}}`
	backupPVC := `{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"q","namespace":"apps",
		"annotations":{"snaprestore.io/backup":"bak://vol/backup-1"}},
		"spec":{"storageClassName":"longhorn","accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}`
	return []pathReview{
		{webhook.PathValidateVolumeSnapshots, req("1", "VolumeSnapshot", "volumesnapshots", "snapshot.storage.k8s.io", "apps", "s", snap)},
		{webhook.PathValidateVolumeSnapshotContents, req("2", "VolumeSnapshotContent", "volumesnapshotcontents", "snapshot.storage.k8s.io", "", "c", content)},
		{webhook.PathValidateVolumeSnapshotClasses, req("3", "VolumeSnapshotClass", "volumesnapshotclasses", "snapshot.storage.k8s.io", "", "longhorn", class)},
		{webhook.PathValidatePVCs, req("4", "PersistentVolumeClaim", "persistentvolumeclaims", "", "apps", "p", pvc)},
		{webhook.PathMutateVolumeSnapshots, req("5", "VolumeSnapshot", "volumesnapshots", "snapshot.storage.k8s.io", "apps", "s", snap)},
		{webhook.PathMutatePVCs, req("6", "PersistentVolumeClaim", "persistentvolumeclaims", "", "apps", "q", backupPVC)},
	}
}

// review POSTs one AdmissionReview to the webhook server over TLS, verified against roots.
func review(t *testing.T, port int, roots *x509.CertPool, path string, req *admissionv1.AdmissionRequest) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: certs.DNSNames(release, namespace)[0]}}}
	resp, err := c.Post(fmt.Sprintf("https://127.0.0.1:%d%s", port, path), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Errorf("POST %s: %v", path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Errorf("POST %s: decode review: %v", path, err)
	}
	return resp.StatusCode, out.Response
}

func metav1GVK(group, version, kind string) metav1.GroupVersionKind {
	return metav1.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

func metav1GVR(group, version, resource string) metav1.GroupVersionResource {
	return metav1.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

func runtimeRaw(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }

func ptrTo[T any](v T) *T { return &v }
