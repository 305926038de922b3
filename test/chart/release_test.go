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
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/snaprestore/snaprestore/certs"
	"github.com/snaprestore/snaprestore/test/testenv"
	"github.com/snaprestore/snaprestore/webhook"
)

// testBuiltinRelease installs the builtin-mode render for real and runs
// `snaprestore webhook` with the Deployment's args as the chart's ServiceAccount
// (impersonated), so the process has exactly the chart's RBAC. The leader must elect
// itself, bootstrap the Secrets, publish the caBundle in every webhook, serve a
// certificate for the Service's names, start its controllers, judge a review on every
// path, hold only the RBAC it needs, and exit 0 on SIGTERM.
func testBuiltinRelease(t *testing.T, s *apiServer) {
	helmOn(t, s, "install", release, chartDir(t), "--namespace", namespace, "--set", "certs.mode=builtin")
	w := startReleaseWebhook(t, s)
	ctx := context.Background()
	testenv.Poll(t, "readyz", func() bool {
		w.alive(t)
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", w.probePort))
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	bundle := publishedBundle(t, s, w)
	roots := checkServing(t, w.port, bundle)
	var lease coordinationv1.Lease
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: webhook.LeaderElectionID}, &lease); err != nil || deref(lease.Spec.HolderIdentity) == "" {
		t.Errorf("leader election Lease %s/%s: %v, holder %q", namespace, webhook.LeaderElectionID, err, deref(lease.Spec.HolderIdentity))
	}
	// Controllers log "Starting workers" once their informers synced: every list and
	// watch they need was allowed.
	testenv.Poll(t, "the controllers to start", func() bool {
		w.alive(t)
		return strings.Contains(w.logs.String(), "Starting workers")
	})
	// The handlers' reads start more informers on first use (StorageClasses, classes):
	// one dry-run review per path exercises them, and its verdict proves the read was
	// allowed: a forbidden lookup is "could not be looked up", never "does not exist".
	for _, r := range reviewsPerPath() {
		code, resp := review(t, w.port, roots, r.path, r.req)
		checkVerdict(t, r, code, resp)
	}
	checkRBAC(t, s, w.serviceAccount)
	checkPopulatorPodPolicy(t, s)
	w.stop(t)
	checkUpgradeUninstall(t, s, bundle)
}

// releaseWebhook is `snaprestore webhook` run as the installed release's Deployment.
type releaseWebhook struct {
	proc            *exec.Cmd
	exited          chan error
	logs            *testenv.SyncBuffer
	port, probePort int
	caSecret        string // --ca-secret of the Deployment
	serviceAccount  string
	stopped         bool
}

// startReleaseWebhook runs the Deployment's args of the builtin render (what helm
// installed, TestGolden) as its ServiceAccount; the listen addresses are this host's.
func startReleaseWebhook(t *testing.T, s *apiServer) *releaseWebhook {
	t.Helper()
	var dep *appsv1.Deployment
	for _, o := range decode(t, mustRead(t, filepath.Join("testdata", "builtin.yaml"))) {
		if d, ok := o.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	w := &releaseWebhook{exited: make(chan error, 1), logs: &testenv.SyncBuffer{}, port: testenv.FreePort(t), probePort: testenv.FreePort(t),
		serviceAccount: dep.Spec.Template.Spec.ServiceAccountName}
	binary, err := testenv.BuildSnaprestore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := impersonating(t, s.env.KubeConfig, fmt.Sprintf("system:serviceaccount:%s:%s", namespace, w.serviceAccount),
		"system:serviceaccounts", "system:serviceaccounts:"+namespace, "system:authenticated")
	args := append(dep.Spec.Template.Spec.Containers[0].Args,
		"--kubeconfig="+kubeconfig, "--bind-address=127.0.0.1", "--port="+strconv.Itoa(w.port),
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(w.probePort), "--metrics-bind-address=0",
		"--cert-reload-interval=200ms")
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--ca-secret="); ok {
			w.caSecret = v
		}
	}
	w.proc = exec.Command(binary, args...)
	w.proc.Env = append(os.Environ(), "POD_NAMESPACE="+namespace)
	w.proc.Stdout, w.proc.Stderr = w.logs, w.logs
	if err := w.proc.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.exited <- w.proc.Wait() }()
	t.Cleanup(func() {
		if !w.stopped {
			_ = w.proc.Process.Kill()
			<-w.exited
		}
		if t.Failed() {
			t.Logf("snaprestore webhook output:\n%s", w.logs.String())
		}
	})
	return w
}

// alive fails the test when the webhook has exited.
func (w *releaseWebhook) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-w.exited:
		w.exited <- err
		t.Fatalf("snaprestore webhook exited: %v\n%s", err, w.logs.String())
	default:
	}
}

// stop sends SIGTERM, as a Deployment rollout does, and requires exit status 0.
func (w *releaseWebhook) stop(t *testing.T) {
	t.Helper()
	_ = w.proc.Process.Signal(syscall.SIGTERM)
	w.stopped = true
	select {
	case err := <-w.exited:
		if err != nil {
			t.Errorf("snaprestore webhook after SIGTERM: %v; want exit status 0", err)
		}
	case <-time.After(time.Minute):
		_ = w.proc.Process.Kill()
		<-w.exited
		t.Errorf("snaprestore webhook still running a minute after SIGTERM; want a clean exit")
	}
}

// publishedBundle waits for the CA Secret's ca.crt in every webhook of both
// configurations and returns it.
func publishedBundle(t *testing.T, s *apiServer, w *releaseWebhook) []byte {
	t.Helper()
	ctx := context.Background()
	var bundle []byte
	testenv.Poll(t, "the CA bundle in every webhook of both configurations", func() bool {
		w.alive(t)
		var ca corev1.Secret
		if err := s.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: w.caSecret}, &ca); err != nil {
			return false
		}
		bundle = ca.Data["ca.crt"]
		var v admissionregv1.ValidatingWebhookConfiguration
		var m admissionregv1.MutatingWebhookConfiguration
		if s.client.Get(ctx, types.NamespacedName{Name: release}, &v) != nil || s.client.Get(ctx, types.NamespacedName{Name: release}, &m) != nil {
			return false
		}
		var got [][]byte
		for _, h := range v.Webhooks {
			got = append(got, h.ClientConfig.CABundle)
		}
		for _, h := range m.Webhooks {
			got = append(got, h.ClientConfig.CABundle)
		}
		for _, b := range got {
			if len(bundle) == 0 || !bytes.Equal(b, bundle) {
				return false
			}
		}
		return len(got) == len(wantValidating)+len(wantMutating)
	})
	return bundle
}

// checkServing requires a certificate from bundle's CA for every name of the Service
// and returns the pool of that CA.
func checkServing(t *testing.T, port int, bundle []byte) *x509.CertPool {
	t.Helper()
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
	return roots
}

// checkUpgradeUninstall: helm upgrade keeps the caBundle the webhook published (a field
// Helm never set), and helm uninstall removes both webhook configurations.
func checkUpgradeUninstall(t *testing.T, s *apiServer, bundle []byte) {
	t.Helper()
	ctx := context.Background()
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

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pathReview is one review and its verdict in the fresh release, where none of the
// objects it names exists.
type pathReview struct {
	path    string
	req     *admissionv1.AdmissionRequest
	allowed bool
	want    string // in the denial or a warning; "" means no warning at all
	patched bool
}

// checkVerdict judges one answered review against r.
func checkVerdict(t *testing.T, r pathReview, code int, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	if code != http.StatusOK || resp == nil || resp.UID != r.req.UID {
		t.Errorf("review on %s: HTTP %d, response %+v; want 200 with UID %s", r.path, code, resp, r.req.UID)
		return
	}
	msg := ""
	if resp.Result != nil {
		msg = resp.Result.Message
	}
	text := msg + "\n" + strings.Join(resp.Warnings, "\n")
	switch {
	case resp.Allowed != r.allowed:
		t.Errorf("review on %s: allowed %v (%s); want %v", r.path, resp.Allowed, text, r.allowed)
	case r.want == "" && strings.TrimSpace(text) != "":
		t.Errorf("review on %s: %q; want no message or warning", r.path, text)
	case !strings.Contains(text, r.want):
		t.Errorf("review on %s: %q; want it to contain %q", r.path, text, r.want)
	case r.patched != (resp.PatchType != nil && len(resp.Patch) > 0):
		t.Errorf("review on %s: patch %s; want a patch: %v", r.path, resp.Patch, r.patched)
	}
}

// access is one question to the API server's authorizer about the chart's ServiceAccount.
type access struct {
	verb, group, resource, namespace, name string
}

// checkRBAC asks the authorizer (SubjectAccessReview) what the chart's ServiceAccount may
// do: everything the webhook does (the ClusterRole's and Role's comments list why), and
// not more than that, in the sense of the nearby verbs a careless rule would grant.
func checkRBAC(t *testing.T, s *apiServer, sa string) {
	t.Helper()
	const snap, core, storage = "snapshot.storage.k8s.io", "", "storage.k8s.io"
	var allowed []access
	for _, r := range []string{"volumesnapshots", "volumesnapshotcontents", "volumesnapshotclasses"} {
		for _, v := range []string{"get", "list", "watch"} {
			allowed = append(allowed, access{v, snap, r, "", ""})
		}
	}
	for _, v := range []string{"get", "list", "watch"} {
		allowed = append(allowed, access{v, core, "persistentvolumeclaims", "", ""}, access{v, storage, "storageclasses", "", ""})
	}
	allowed = append(allowed,
		access{"create", snap, "volumesnapshotcontents", "", ""}, access{"delete", snap, "volumesnapshotcontents", "", ""},
		access{"create", snap, "volumesnapshots", "apps", ""}, access{"patch", core, "persistentvolumeclaims", "apps", ""},
		access{"create", core, "events", "apps", ""},
		access{"get", "coordination.k8s.io", "leases", namespace, webhook.LeaderElectionID},
		access{"update", "coordination.k8s.io", "leases", namespace, webhook.LeaderElectionID},
		access{"create", core, "secrets", namespace, ""}, access{"get", core, "secrets", namespace, certs.DefaultCASecret},
		access{"patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", release},
		access{"get", "apiextensions.k8s.io", "customresourcedefinitions", "", "volumesnapshots.snapshot.storage.k8s.io"},
		access{"create", "authentication.k8s.io", "tokenreviews", "", ""}, access{"create", "authorization.k8s.io", "subjectaccessreviews", "", ""})
	// The volume populator (on by default): BackupSources, the PV rebind, its pods, prime
	// PVCs and copied Secrets in the release namespace, and a live get of the one Secret a
	// BackupSource's spec.backupstoreSecretRef names (any namespace: no list or watch).
	const sr = "snaprestore.io"
	for _, v := range []string{"get", "list", "watch", "create", "patch"} {
		allowed = append(allowed, access{v, sr, "backupsources", "apps", ""})
	}
	allowed = append(allowed, access{"patch", sr, "backupsources/status", "apps", ""},
		access{"get", core, "persistentvolumes", "", ""}, access{"patch", core, "persistentvolumes", "", ""},
		access{"create", core, "pods", namespace, ""}, access{"delete", core, "pods", namespace, ""},
		access{"create", core, "persistentvolumeclaims", namespace, ""}, access{"delete", core, "persistentvolumeclaims", namespace, ""},
		access{"get", core, "secrets", "apps", "backupstore-credentials"})
	denied := []access{
		{"delete", core, "persistentvolumeclaims", "apps", ""}, {"update", snap, "volumesnapshots", "apps", ""},
		{"delete", snap, "volumesnapshots", "apps", ""}, {"patch", snap, "volumesnapshotcontents", "", ""},
		{"list", core, "secrets", namespace, ""}, {"list", core, "secrets", "apps", ""}, {"watch", core, "secrets", "", ""},
		{"update", core, "secrets", "apps", "backupstore-credentials"}, {"create", core, "pods", "apps", ""},
		{"delete", core, "persistentvolumes", "", ""}, {"create", core, "persistentvolumes", "", ""},
		{"delete", sr, "backupsources", "apps", ""}, {"create", core, "pods/exec", namespace, ""},
		{"patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "another-webhook"},
		{"get", "apiextensions.k8s.io", "customresourcedefinitions", "", "volumesnapshotcontents.snapshot.storage.k8s.io"},
	}
	user := fmt.Sprintf("system:serviceaccount:%s:%s", namespace, sa)
	ask := func(a access) bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.namespace, Name: a.name},
		}}
		if err := s.client.Create(context.Background(), sar); err != nil {
			t.Fatalf("SubjectAccessReview %+v: %v", a, err)
		}
		return sar.Status.Allowed
	}
	for _, a := range allowed {
		if !ask(a) {
			t.Errorf("the chart's RBAC denies %s %s/%s (namespace %q, name %q), which the webhook needs", a.verb, a.group, a.resource, a.namespace, a.name)
		}
	}
	for _, a := range denied {
		if ask(a) {
			t.Errorf("the chart's RBAC allows %s %s/%s (namespace %q, name %q), which the webhook never does", a.verb, a.group, a.resource, a.namespace, a.name)
		}
	}
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
		{path: webhook.PathValidateVolumeSnapshots, req: req("1", "VolumeSnapshot", "volumesnapshots", "snapshot.storage.k8s.io", "apps", "s", snap),
			allowed: true, want: `VolumeSnapshotContent "c" does not exist yet`},
		{path: webhook.PathValidateVolumeSnapshotContents, req: req("2", "VolumeSnapshotContent", "volumesnapshotcontents", "snapshot.storage.k8s.io", "", "c", content),
			want: `VolumeSnapshotClass "longhorn" does not exist`},
		{path: webhook.PathValidateVolumeSnapshotClasses, req: req("3", "VolumeSnapshotClass", "volumesnapshotclasses", "snapshot.storage.k8s.io", "", "longhorn", class),
			allowed: true},
		{path: webhook.PathValidatePVCs, req: req("4", "PersistentVolumeClaim", "persistentvolumeclaims", "", "apps", "p", pvc),
			allowed: true, want: "VolumeSnapshot apps/s does not exist"},
		{path: webhook.PathMutateVolumeSnapshots, req: req("5", "VolumeSnapshot", "volumesnapshots", "snapshot.storage.k8s.io", "apps", "s", snap),
			allowed: true},
		{path: webhook.PathMutatePVCs, req: req("6", "PersistentVolumeClaim", "persistentvolumeclaims", "", "apps", "q", backupPVC),
			allowed: true, patched: true},
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
