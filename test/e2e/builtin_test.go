package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestBuiltinCertificates runs a second `snaprestore webhook` with --cert-mode
// builtin on the cel cluster: it must create the CA and serving Secrets, put the
// CA into the caBundle of the webhook configurations it is pointed at, and serve
// the certificate from the Secret (valid for the Service's DNS names), which
// shows the command wires certs.Setup's TLS options and runnables into the
// managers: it runs with --leader-elect, as the chart runs it, so the certificate
// authority runs as the leader's work, on the manager of its term. Its
// configurations match no object, so the suite's other tests never call it.
func TestBuiltinCertificates(t *testing.T) {
	t.Parallel()
	v := variants[0]
	ctx := context.Background()
	const ns, configName = "snaprestore-builtin", "builtin-certs-test"
	if err := v.c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	never := &metav1.LabelSelector{MatchLabels: map[string]string{"test.snaprestore.io/never": "true"}}
	cc := admissionregv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/never")}
	rules := []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create},
		Rule: admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}
	objs := []client.Object{
		&admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: configName}, Webhooks: []admissionregv1.ValidatingWebhook{{
			Name: "never.validate.snaprestore.io", ClientConfig: cc, Rules: rules, ObjectSelector: never,
			FailurePolicy: ptr.To(admissionregv1.Ignore), SideEffects: ptr.To(admissionregv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		}}},
		&admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: configName}, Webhooks: []admissionregv1.MutatingWebhook{{
			Name: "never.mutate.snaprestore.io", ClientConfig: cc, Rules: rules, ObjectSelector: never,
			FailurePolicy: ptr.To(admissionregv1.Ignore), SideEffects: ptr.To(admissionregv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		}}},
	}
	for _, o := range objs {
		if err := v.c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	w := startWebhook(t, v, "--cert-mode", "builtin", "--cert-namespace", ns, "--ca-propagation", "1s",
		"--validating-webhook-configuration", configName, "--mutating-webhook-configuration", configName,
		"--leader-elect", "--leader-election-namespace", ns)
	fail := w.fatalf

	// Ready means the serving certificate was loaded from its Secret.
	w.waitFor("builtin-mode webhook ready", w.ready)
	var ca corev1.Secret
	if err := v.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "snaprestore-ca"}, &ca); err != nil {
		fail("CA Secret: %v", err)
	}
	bundle := ca.Data["ca.crt"]
	if len(bundle) == 0 {
		fail("CA Secret %s/snaprestore-ca has no ca.crt", ns)
	}
	var vwc admissionregv1.ValidatingWebhookConfiguration
	var mwc admissionregv1.MutatingWebhookConfiguration
	w.waitFor("caBundle of "+configName+" patched to the CA Secret's ca.crt", func() bool {
		if err := v.c.Client.Get(ctx, client.ObjectKey{Name: configName}, &vwc); err != nil {
			t.Fatal(err)
		}
		if err := v.c.Client.Get(ctx, client.ObjectKey{Name: configName}, &mwc); err != nil {
			t.Fatal(err)
		}
		return bytes.Equal(vwc.Webhooks[0].ClientConfig.CABundle, bundle) && bytes.Equal(mwc.Webhooks[0].ClientConfig.CABundle, bundle)
	})

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		fail("ca.crt of the CA Secret holds no certificate")
	}
	conn, err := tls.Dial("tcp", w.addr, &tls.Config{RootCAs: pool, ServerName: "snaprestore." + ns + ".svc", MinVersion: tls.VersionTLS12})
	if err != nil {
		fail("TLS handshake with the builtin-mode webhook as snaprestore.%s.svc: %v", ns, err)
	}
	conn.Close()
}
