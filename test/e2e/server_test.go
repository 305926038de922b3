package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

// webhookClient trusts the CA that signed the webhook's serving certificate.
func webhookClient(t *testing.T, v *variant) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(v.c.CABundle) {
		t.Fatalf("CA bundle holds no certificate")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// TestMalformedReview posts what no API server sends to every path of the
// running webhook: each is answered with an AdmissionReview whose status says
// what was wrong (controller-runtime's webhook.Admission decodes and limits the
// body), and the process keeps serving.
func TestMalformedReview(t *testing.T) {
	t.Parallel()
	v := variants[0]
	hc := webhookClient(t, v)
	paths := []string{webhook.PathValidateVolumeSnapshots, webhook.PathValidateVolumeSnapshotContents, webhook.PathValidateVolumeSnapshotClasses,
		webhook.PathValidatePVCs, webhook.PathMutateVolumeSnapshots, webhook.PathMutatePVCs}
	oversized := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","object":{"pad":"` + strings.Repeat("x", 8<<20) + `"}}}`
	for _, tc := range []struct {
		name, contentType, body string
		wantCode                int32
		wantMessage             string
	}{
		{"not JSON", "application/json", "{not json", http.StatusBadRequest, "couldn't get version/kind"},
		{"object of the wrong shape", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE",` +
			`"kind":{"group":"","version":"v1","kind":"X"},"object":{"metadata":"not an object","spec":[]}}}`, http.StatusBadRequest, "json: cannot unmarshal string into Go struct field"},
		{"wrong content type", "text/plain", `{}`, http.StatusBadRequest, "contentType=text/plain, expected application/json"},
		{"empty body", "application/json", "", http.StatusBadRequest, "request body is empty"},
		{"over 7 MiB", "application/json", oversized, http.StatusRequestEntityTooLarge, "request entity is too large; limit is 7340032 bytes"},
	} {
		for _, p := range paths {
			t.Run(tc.name+p, func(t *testing.T) {
				resp, err := hc.Post(v.c.WebhookURL+p, tc.contentType, bytes.NewBufferString(tc.body))
				if err != nil {
					t.Fatalf("POST %s: %v", p, err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				var review admissionv1.AdmissionReview
				if err := json.Unmarshal(body, &review); err != nil || review.Response == nil || review.Response.Result == nil {
					t.Fatalf("POST %s: HTTP %d, body %q: want an AdmissionReview with a status (%v)", p, resp.StatusCode, body, err)
				}
				r := review.Response
				if r.Allowed || r.Result.Code != tc.wantCode || !strings.Contains(r.Result.Message, tc.wantMessage) {
					t.Errorf("POST %s: allowed %v, code %d, message %q; want denied with code %d and a message containing %q",
						p, r.Allowed, r.Result.Code, r.Result.Message, tc.wantCode, tc.wantMessage)
				}
			})
		}
	}
	if exited, err := v.c.Exited(); exited {
		t.Fatalf("the webhook exited after malformed requests: %v", err)
	}
	if code, _ := httpGet(t, v.c.ProbeURL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after malformed requests: HTTP %d, want 200", code)
	}
}

// TestProbes checks /healthz and /readyz of the running webhook.
func TestProbes(t *testing.T) {
	t.Parallel()
	for _, v := range variants {
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, body := httpGet(t, v.c.ProbeURL+p); code != http.StatusOK || body != "ok" {
				t.Errorf("%s cluster: GET %s: HTTP %d %q, want 200 \"ok\"", v.name, p, code, body)
			}
		}
		if code, body := httpGet(t, v.c.ProbeURL+"/readyz/webhook"); code != http.StatusOK {
			t.Errorf("%s cluster: GET /readyz/webhook: HTTP %d %q, want 200 (the webhook server started check)", v.name, code, body)
		}
	}
}

// TestLeaderElection finds the Lease of the nocel cluster's webhook, which runs
// with --leader-elect, held by it.
func TestLeaderElection(t *testing.T) {
	t.Parallel()
	v := variants[1]
	// Acquiring a free Lease takes a moment after the start; poll for up to a minute.
	var r cluster.Result
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r, err = v.c.Kubectl(context.Background(), ".", "", "get", "lease", "snaprestore.io", "-n", "default", "-o", "jsonpath={.spec.holderIdentity}")
		if err == nil && r.Exit == 0 && r.Stdout != "" {
			return
		}
	}
	t.Errorf("kubectl get lease snaprestore.io: exit %d, %v, holder %q, stderr %q; want a holder", r.Exit, err, r.Stdout, r.Stderr)
}

// TestReviewMetrics denies an object through kubectl and finds it counted by
// kind, operation and verdict, with the latency histogram next to it and the
// known label values exported from the start.
func TestReviewMetrics(t *testing.T) {
	t.Parallel()
	v := variants[1]
	ctx := context.Background()
	labels := map[string]string{"kind": "PersistentVolumeClaim", "operation": "CREATE", "verdict": "denied"}
	before, err := v.c.Metric(ctx, "snaprestore_webhook_reviews_total", labels)
	if err != nil {
		t.Fatal(err)
	}
	pvc := `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: metrics-denied
  namespace: default
  annotations:
    snaprestore.io/backup: "bak://vol-lz4"
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
`
	r, err := v.c.Kubectl(ctx, ".", pvc, "create", "-f", "-")
	if err != nil || r.Exit == 0 {
		t.Fatalf("kubectl create of a PVC with a malformed backup reference: exit %d, %v, stderr %q; want a denial", r.Exit, err, r.Stderr)
	}
	after, err := v.c.Metric(ctx, "snaprestore_webhook_reviews_total", labels)
	if err != nil {
		t.Fatal(err)
	}
	if after < before+1 {
		t.Errorf("snaprestore_webhook_reviews_total%v went from %v to %v; want at least one more", labels, before, after)
	}
	_, text, err := v.c.Scrape(ctx, v.c.MetricsToken())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`snaprestore_webhook_reviews_total{kind="VolumeSnapshotClass",operation="UPDATE",verdict="error"}`,
		`snaprestore_webhook_review_duration_seconds_count{kind="PersistentVolumeClaim"}`,
		`snaprestore_webhook_review_duration_seconds_bucket{kind="VolumeSnapshot",le="0.005"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics has no series %s", want)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestCELOrWebhook shows who denies a VolumeSnapshot with two sources: the API
// server's CEL rule on the cluster whose CRDs have it (the validating webhook is
// never called), the webhook on the cluster whose CRDs lack it, with the same
// words on both.
func TestCELOrWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	labels := map[string]string{"kind": "VolumeSnapshot", "operation": "CREATE", "verdict": "denied"}
	snap := `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: cel-or-webhook
  namespace: default
spec:
  source:
    persistentVolumeClaimName: data
    volumeSnapshotContentName: cel-or-webhook
`
	stderr := map[string]string{}
	for _, v := range variants {
		before, err := v.c.Metric(ctx, "snaprestore_webhook_reviews_total", labels)
		if err != nil {
			t.Fatal(err)
		}
		r, err := v.c.Kubectl(ctx, ".", snap, "create", "-f", "-")
		if err != nil || r.Exit == 0 {
			t.Fatalf("%s cluster: kubectl create of a VolumeSnapshot with two sources: exit %d, %v; want a denial", v.name, r.Exit, err)
		}
		stderr[v.name] = r.Stderr
		after, err := v.c.Metric(ctx, "snaprestore_webhook_reviews_total", labels)
		if err != nil {
			t.Fatal(err)
		}
		denials := after - before
		if want := map[bool]float64{false: 0, true: 1}[v.stripCEL]; denials != want {
			t.Errorf("%s cluster: the webhook denied %v VolumeSnapshot creations, want %v (CEL rules present: %v)", v.name, denials, want, !v.stripCEL)
		}
	}
	if stderr["cel"] != stderr["nocel"] {
		t.Errorf("the denial differs:\nCEL:     %q\nwebhook: %q", stderr["cel"], stderr["nocel"])
	}
}
