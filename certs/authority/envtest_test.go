package authority

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/certs/pki"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// certEnv is a real kube-apiserver plus an HTTPS admission server on 127.0.0.1 that
// serves from a Source. The webhook configurations call it by URL https://localhost:port,
// so the serving certificate is issued for "localhost"; the Service DNS names are
// certs.DNSNames' business and tested there.
type certEnv struct {
	client client.Client
	port   int
	ctx    context.Context
}

func startCertEnv(t *testing.T) *certEnv {
	t.Helper()
	logger := testenv.Logger()
	logf.SetLogger(logger)
	scheme := testenv.NewScheme()
	cfg := testenv.Start(t, testenv.Options{Scheme: scheme}).Config
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	ctx, cancel := context.WithCancel(logf.IntoContext(context.Background(), logger))
	t.Cleanup(cancel)
	return &certEnv{client: c, ctx: ctx}
}

// serve starts an admission server answering "allowed" on /validate and /mutate with the
// certificate of src, and records the serial number of every certificate it handed out.
func (e *certEnv) serve(t *testing.T, src *Source) (port int, served func() map[string]string) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]string{} // serial -> authority key ID
	mux := http.NewServeMux()
	allow := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })
	mux.Handle("/validate", &webhook.Admission{Handler: allow})
	mux.Handle("/mutate", &webhook.Admission{Handler: allow})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := src.GetCertificate(h)
		if err == nil {
			mu.Lock()
			seen[c.Leaf.SerialNumber.String()] = fmt.Sprintf("%x", c.Leaf.AuthorityKeyId)
			mu.Unlock()
		}
		return c, err
	}})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port, func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]string{}
		for k, v := range seen {
			out[k] = v
		}
		return out
	}
}

// installConfigs creates a validating configuration with two webhooks and a mutating one
// with one, all for ConfigMap creation in namespace ns, calling https://localhost:port.
func (e *certEnv) installConfigs(t *testing.T, name, ns string, port int) {
	t.Helper()
	url := func(path string) *string { return ptr.To(fmt.Sprintf("https://localhost:%d/%s", port, path)) }
	rules := []admissionregv1.RuleWithOperations{{
		Operations: []admissionregv1.OperationType{admissionregv1.Create},
		Rule:       admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	vhook := func(n string) admissionregv1.ValidatingWebhook {
		return admissionregv1.ValidatingWebhook{
			Name: n, ClientConfig: admissionregv1.WebhookClientConfig{URL: url("validate")}, Rules: rules,
			NamespaceSelector: sel, FailurePolicy: ptr.To(admissionregv1.Fail), SideEffects: ptr.To(admissionregv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](5),
		}
	}
	v := &admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregv1.ValidatingWebhook{vhook("one.validate.test.snaprestore.io"), vhook("two.validate.test.snaprestore.io")}}
	m := &admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name: "mutate.test.snaprestore.io", ClientConfig: admissionregv1.WebhookClientConfig{URL: url("mutate")}, Rules: rules,
			NamespaceSelector: sel, FailurePolicy: ptr.To(admissionregv1.Fail), SideEffects: ptr.To(admissionregv1.SideEffectClassNoneOnDryRun),
			AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](5), ReinvocationPolicy: ptr.To(admissionregv1.IfNeededReinvocationPolicy),
		}}}
	ns0 := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	for _, o := range []client.Object{ns0, v, m} {
		if err := e.client.Create(e.ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// bundles returns the caBundle of every webhook entry of both configurations.
func (e *certEnv) bundles(t *testing.T, name string) [][]byte {
	t.Helper()
	var v admissionregv1.ValidatingWebhookConfiguration
	var m admissionregv1.MutatingWebhookConfiguration
	if err := e.client.Get(e.ctx, types.NamespacedName{Name: name}, &v); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Get(e.ctx, types.NamespacedName{Name: name}, &m); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, w := range v.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	for _, w := range m.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func (e *certEnv) secretData(t *testing.T, ns, name string) map[string][]byte {
	t.Helper()
	var s corev1.Secret
	if err := e.client.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatalf("get secret %s/%s: %v", ns, name, err)
	}
	return s.Data
}

func TestBuiltinOnAPIServer(t *testing.T) {
	e := startCertEnv(t)
	t.Run("rotation under load", func(t *testing.T) { testRotationUnderLoad(t, e) })
	t.Run("restart reuses the secrets", func(t *testing.T) { testRestartReuses(t, e) })
}

// testRotationUnderLoad rotates the serving certificate every few seconds and the CA once
// while two loops send dry-run ConfigMap creations through the API server, and so through
// three webhooks with failurePolicy Fail: every request must succeed.
func testRotationUnderLoad(t *testing.T, e *certEnv) {
	const ns, name = "rotation", "rotation"
	src := NewSource(e.client, ns, "serving", 100*time.Millisecond)
	port, served := e.serve(t, src)
	e.installConfigs(t, name, ns, port)
	auth := New(e.client, Config{
		Namespace: ns, CASecret: "ca", ServingSecret: "serving", DNSNames: []string{"localhost"},
		ValidatingConfig: name, MutatingConfig: name,
		CAValidity: 36 * time.Second, ServingValidity: 12 * time.Second, CAPropagation: 2 * time.Second, ResyncInterval: time.Second,
	})
	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	wg.Go(func() { _ = auth.Start(ctx) })
	wg.Go(func() { _ = src.Start(ctx) })
	testenv.Poll(t, "the first serving certificate", func() bool { return src.Ready(nil) == nil })
	firstCA := e.secretData(t, ns, "ca")[KeyCert]
	testenv.Poll(t, "the caBundle in every webhook", func() bool {
		for _, b := range e.bundles(t, name) {
			if len(b) == 0 {
				return false
			}
		}
		return true
	})

	load := &dryRunLoad{}
	load.start(ctx, &wg, e.client, ns, 2)

	// Run until a second CA signs serving certificates and the first one has expired
	// and left the bundle; check on the way that both configurations carry the bundle of
	// the CA Secret.
	var caRotated bool
	testenv.Poll(t, "a CA rotation and the old CA leaving the bundle", func() bool {
		ca := e.secretData(t, ns, "ca")
		if !bytes.Equal(ca[KeyCert], firstCA) {
			caRotated = true
		}
		return caRotated && len(mustCerts(t, ca[KeyBundle])) == 1
	})
	testenv.Poll(t, "both configurations to carry the current bundle", func() bool {
		want := e.secretData(t, ns, "ca")[KeyBundle]
		for _, b := range e.bundles(t, name) {
			if !bytes.Equal(b, want) {
				return false
			}
		}
		return true
	})
	stop()
	wg.Wait()

	if n := load.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during rotation; first: %v", n, n+load.ok.Load(), load.firstErrors())
	}
	if load.ok.Load() < 100 {
		t.Errorf("only %d requests succeeded; the load loop did not exercise the webhooks", load.ok.Load())
	}
	leaves, issuers := served(), map[string]bool{}
	for _, issuer := range leaves {
		issuers[issuer] = true
	}
	if len(leaves) < 3 || len(issuers) < 2 {
		t.Errorf("served %d serving certificates from %d CAs; want at least 3 from 2", len(leaves), len(issuers))
	}
	if n := counterValue(t, issued.WithLabelValues(kindServing)); n < float64(len(leaves)) {
		t.Errorf("snaprestore_certs_issued_total{kind=serving} = %v, below the %d certificates served", n, len(leaves))
	}
	if n := counterValue(t, issued.WithLabelValues(kindCA)); n < 2 {
		t.Errorf("snaprestore_certs_issued_total{kind=ca} = %v, want at least 2", n)
	}
}

// dryRunLoad sends dry-run ConfigMap creations, through the webhooks, until its
// context ends; a failure after the end does not count.
type dryRunLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []error
}

// start runs loops goroutines on wg, creating in ns.
func (l *dryRunLoad) start(ctx context.Context, wg *sync.WaitGroup, c client.Client, ns string, loops int) {
	for i := range loops {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("load-%d-%d", i, n)}}
				err := c.Create(ctx, cm, client.DryRunAll)
				switch {
				case err == nil:
					l.ok.Add(1)
				case ctx.Err() != nil:
				default:
					l.failed.Add(1)
					l.mu.Lock()
					l.errs = append(l.errs, err)
					l.mu.Unlock()
				}
			}
		})
	}
}

// firstErrors joins the first three failures.
func (l *dryRunLoad) firstErrors() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs[:min(3, len(l.errs))]...)
}

// testRestartReuses starts an authority on existing Secrets: it must keep the CA and the
// serving certificate and leave the published bundle alone.
func testRestartReuses(t *testing.T, e *certEnv) {
	const ns, name = "restart", "restart"
	e.installConfigs(t, name, ns, 1)
	cfg := Config{
		Namespace: ns, CASecret: "ca", ServingSecret: "serving", DNSNames: []string{"localhost"},
		ValidatingConfig: name, MutatingConfig: name,
		CAValidity: 24 * time.Hour, ServingValidity: time.Hour, CAPropagation: time.Minute, ResyncInterval: time.Minute,
	}
	if _, err := New(e.client, cfg).Reconcile(e.ctx); err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	ca, serving, bundles := e.secretData(t, ns, "ca"), e.secretData(t, ns, "serving"), e.bundles(t, name)
	if len(bundles) != 3 || !bytes.Equal(bundles[0], ca[KeyBundle]) {
		t.Fatalf("first reconcile published %d bundles, first %q; want 3 equal to the CA Secret's", len(bundles), bundles[0])
	}
	if _, err := New(e.client, cfg).Reconcile(e.ctx); err != nil {
		t.Fatalf("reconcile after restart: %v", err)
	}
	if got := e.secretData(t, ns, "ca"); !bytes.Equal(got[KeyCert], ca[KeyCert]) || !bytes.Equal(got[KeyKey], ca[KeyKey]) {
		t.Errorf("restart issued a new CA")
	}
	if got := e.secretData(t, ns, "serving"); !bytes.Equal(got[KeyCert], serving[KeyCert]) {
		t.Errorf("restart issued a new serving certificate")
	}
	for i, b := range e.bundles(t, name) {
		if !bytes.Equal(b, bundles[i]) {
			t.Errorf("restart changed the caBundle of webhook %d", i)
		}
	}
}

func mustCerts(t *testing.T, pemBytes []byte) []*x509.Certificate {
	t.Helper()
	cs, err := pki.DecodeCerts("ca bundle", pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
