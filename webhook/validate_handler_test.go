package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/certs/pki"
)

// servingCert writes a certificate for localhost, signed by a fresh CA, as tls.crt and
// tls.key into dir (the layout of --cert-dir) and returns a pool that trusts the CA.
func servingCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("validate-handler-test-ca", now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.Sign(ca, []string{"localhost"}, now.Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.EncodeKey(leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pki.EncodeCerts(leaf.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// startValidateServer serves the validating handlers (facts from objs) on a
// controller-runtime webhook server over HTTPS and returns its base URL and a client.
func startValidateServer(t *testing.T, objs Objects, opts HandlerOptions) (string, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	pool := servingCert(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	registerValidating(srv, NewRules(objs, opts).handlers())
	runUntilCleanup(t, srv.Start, srv.StartedChecker())
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	t.Cleanup(c.CloseIdleConnections)
	return fmt.Sprintf("https://127.0.0.1:%d", port), c
}

// review is an AdmissionReview request body, as the API server sends it.
func review(op admissionv1.Operation, resource, kind, namespace, name, object, oldObject string) string {
	var old string
	if oldObject != "" {
		old = `,"oldObject":` + oldObject
	}
	group := snapv1.GroupName
	if kind == "PersistentVolumeClaim" {
		group = ""
	}
	return fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"7c1f6e0a-1","kind":{"group":%q,"version":"v1","kind":%q},"resource":{"group":%q,"version":"v1","resource":%q},"namespace":%q,"name":%q,"operation":%q,"userInfo":{"username":"test"},"object":%s%s}}`,
		group, kind, group, resource, namespace, name, op, object, old)
}

func TestValidatingHandlersOverHTTPS(t *testing.T) {
	t.Parallel()
	facts := factStore{contents: map[string]*snapv1.VolumeSnapshotContent{
		"elsewhere": ruleContent("elsewhere", func(c *snapv1.VolumeSnapshotContent) { c.Spec.VolumeSnapshotRef.Namespace = "other" }),
	}}
	base, client := startValidateServer(t, facts, HandlerOptions{})
	const (
		snapshotTo = `{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","metadata":{"name":"restore-1","namespace":"apps"},"spec":{"source":{"volumeSnapshotContentName":%q}}}`
		content    = `{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotContent","metadata":{"name":"c1"},"spec":{"deletionPolicy":%q,"driver":"driver.longhorn.io","source":{"snapshotHandle":%q},"volumeSnapshotRef":{"name":"restore-1","namespace":"apps"}}}`
	)
	tests := []struct {
		name        string
		path        string
		body        string
		wantHTTP    int // HTTP status of the response
		wantAllowed bool
		wantCode    int32  // response.status.code
		wantMessage string // response.status.message
		wantCauses  []string
		wantWarn    []string
		noUID       bool // the request could not be read, so the response has no uid
	}{
		{name: "allowed", path: PathValidateVolumeSnapshotContents, wantHTTP: 200, wantAllowed: true,
			body: review(admissionv1.Create, "volumesnapshotcontents", "VolumeSnapshotContent", "", "c1", fmt.Sprintf(content, "Retain", "bak://vol-a/backup-1"), "")},
		{name: "allowed with a warning", path: PathValidateVolumeSnapshotContents, wantHTTP: 200, wantAllowed: true,
			body:     review(admissionv1.Create, "volumesnapshotcontents", "VolumeSnapshotContent", "", "c1", fmt.Sprintf(content, "Retain", "bs://vol-a/backup-1"), ""),
			wantWarn: []string{"spec.source.snapshotHandle: bs:// is deprecated; write bak://vol-a/backup-1"}},
		{name: "denied: bad handle", path: PathValidateVolumeSnapshotContents, wantHTTP: 200, wantCode: 422,
			body:        review(admissionv1.Create, "volumesnapshotcontents", "VolumeSnapshotContent", "", "c1", fmt.Sprintf(content, "Retain", "bak://test-vol"), ""),
			wantMessage: `VolumeSnapshotContent "c1" is invalid: spec.source.snapshotHandle: Invalid value: "bak://test-vol": ` + grammarMessage(t, "bak://test-vol"),
			wantCauses:  []string{"spec.source.snapshotHandle"}},
		{name: "denied: content bound elsewhere", path: PathValidateVolumeSnapshots, wantHTTP: 200, wantCode: 422,
			body:        review(admissionv1.Create, "volumesnapshots", "VolumeSnapshot", "apps", "restore-1", fmt.Sprintf(snapshotTo, "elsewhere"), ""),
			wantMessage: `VolumeSnapshot "restore-1" is invalid: spec.source.volumeSnapshotContentName: Invalid value: "elsewhere": VolumeSnapshotContent "elsewhere" has spec.volumeSnapshotRef other/restore-1, but this VolumeSnapshot is apps/restore-1, so the two never bind; expected a content whose spec.volumeSnapshotRef is namespace "apps", name "restore-1"`,
			wantCauses:  []string{"spec.source.volumeSnapshotContentName"}},
		{name: "denied with a warning", path: PathValidateVolumeSnapshotContents, wantHTTP: 200, wantCode: 422,
			body: review(admissionv1.Update, "volumesnapshotcontents", "VolumeSnapshotContent", "", "c1", fmt.Sprintf(content, "Delete", "bak://vol-a/backup-2"),
				fmt.Sprintf(content, "Retain", "bak://vol-a/backup-1")),
			wantMessage: `VolumeSnapshotContent "c1" is invalid: spec.source.snapshotHandle: Invalid value: "bak://vol-a/backup-2": snapshotHandle is immutable`,
			wantCauses:  []string{"spec.source.snapshotHandle"},
			wantWarn:    []string{"spec.deletionPolicy: Delete deletes backup bak://vol-a/backup-2 from the backupstore when the VolumeSnapshot is deleted; set Retain to keep the backup"}},
		{name: "delete is allowed", path: PathValidateVolumeSnapshots, wantHTTP: 200, wantAllowed: true,
			body: review(admissionv1.Delete, "volumesnapshots", "VolumeSnapshot", "apps", "restore-1", "null", fmt.Sprintf(snapshotTo, "elsewhere"))},
		{name: "object of the wrong shape", path: PathValidateVolumeSnapshots, wantHTTP: 200, wantCode: 400,
			body: review(admissionv1.Create, "volumesnapshots", "VolumeSnapshot", "apps", "restore-1", `{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","spec":{"source":"pvc"}}`, "")},
		{name: "no object", path: PathValidatePVCs, wantHTTP: 200, wantCode: 400,
			body: review(admissionv1.Create, "persistentvolumeclaims", "PersistentVolumeClaim", "apps", "p", "null", "")},
		{name: "old object of the wrong shape", path: PathValidateVolumeSnapshotClasses, wantHTTP: 200, wantCode: 400,
			body: review(admissionv1.Update, "volumesnapshotclasses", "VolumeSnapshotClass", "", "c",
				`{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotClass","metadata":{"name":"c"},"driver":"d","deletionPolicy":"Retain"}`, `{"driver":7}`)},
		// controller-runtime answers an unreadable review in the body (HTTP 200, status 400).
		{name: "body is not an AdmissionReview", path: PathValidateVolumeSnapshots, wantHTTP: 200, wantCode: 400, noUID: true, body: `{"request":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := client.Post(base+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("POST %s: %v", tt.path, err)
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantHTTP {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tt.wantHTTP, data)
			}
			if tt.wantHTTP != http.StatusOK {
				return
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatalf("response is not an AdmissionReview: %v: %s", err, data)
			}
			r := out.Response
			if r == nil || (r.UID != "7c1f6e0a-1" && !tt.noUID) {
				t.Fatalf("response without the request's uid: %s", data)
			}
			code := int32(0)
			if r.Result != nil && !r.Allowed {
				code = r.Result.Code
			}
			if r.Allowed != tt.wantAllowed || code != tt.wantCode {
				t.Errorf("allowed, code = %v, %d; want %v, %d: %s", r.Allowed, code, tt.wantAllowed, tt.wantCode, data)
			}
			if tt.wantMessage != "" && r.Result.Message != tt.wantMessage {
				t.Errorf("message:\n got %s\nwant %s", r.Result.Message, tt.wantMessage)
			}
			if tt.wantCode == 400 && !tt.noUID && (r.Result == nil || !strings.Contains(r.Result.Message, "request.")) {
				t.Errorf("400 without the part of the request that was wrong: %s", data)
			}
			var causes []string
			if r.Result != nil && r.Result.Details != nil {
				for _, c := range r.Result.Details.Causes {
					causes = append(causes, c.Field)
				}
				if r.Result.Details.Group != snapv1.GroupName {
					t.Errorf("details.group = %q, want %q", r.Result.Details.Group, snapv1.GroupName)
				}
			}
			if diff := cmp.Diff(tt.wantCauses, causes); diff != "" {
				t.Errorf("cause fields (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarn, r.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// panicObjects panics on every lookup, standing in for a rule with a bug.
type panicObjects struct{ factStore }

func (panicObjects) Content(context.Context, string) (*snapv1.VolumeSnapshotContent, Presence) {
	panic("lookup exploded")
}

// panicMutation panics, standing in for a mutation with a bug.
type panicMutation struct{}

func (panicMutation) mutate(context.Context, admission.Request, *snapv1.VolumeSnapshot, *snapv1.VolumeSnapshot) (admission.Warnings, error) {
	panic("mutation exploded")
}

// TestHandlersRecoverFromPanics: both adapters share recoverReview (before #12 only the
// validating one recovered; a mutation's panic reached controller-runtime).
func TestHandlersRecoverFromPanics(t *testing.T) {
	t.Parallel()
	raw := []byte(`{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","metadata":{"name":"s","namespace":"n"},"spec":{"source":{"volumeSnapshotContentName":"c"}}}`)
	for _, c := range []struct {
		name string
		h    admission.Handler
		want string
	}{
		{"validating", NewRules(panicObjects{}, HandlerOptions{}).handlers().VolumeSnapshots, `validating VolumeSnapshot "s" failed: internal error`},
		{"mutating", newMutatingHandler[*snapv1.VolumeSnapshot](volumeSnapshotGK, panicMutation{}, func() *snapv1.VolumeSnapshot { return &snapv1.VolumeSnapshot{} }),
			`mutating VolumeSnapshot "s" failed: internal error`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			resp := c.h.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: admissionv1.Create, Name: "s", Namespace: "n", Object: runtime.RawExtension{Raw: raw},
			}})
			if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusInternalServerError {
				t.Fatalf("response = %+v, want a 500 denial", resp.AdmissionResponse)
			}
			if resp.Result.Message != c.want {
				t.Errorf("message = %q, want %q", resp.Result.Message, c.want)
			}
		})
	}
}

// TestDenyNamesKindAndCauses: the denial reads as the API server's own validation.
func TestDenyNamesKindAndCauses(t *testing.T) {
	t.Parallel()
	errs := field.ErrorList{
		field.Invalid(field.NewPath("spec", "a"), "x", "bad a"),
		field.Required(field.NewPath("spec", "b"), "b is needed"),
	}
	resp := deny(volumeSnapshotClassGK, "c", errs)
	want := `VolumeSnapshotClass "c" is invalid: [spec.a: Invalid value: "x": bad a, spec.b: Required value: b is needed]`
	if resp.Allowed || resp.Result.Message != want || resp.Result.Code != 422 {
		t.Errorf("deny = allowed %v, %d %q; want denied, 422 %q", resp.Allowed, resp.Result.Code, resp.Result.Message, want)
	}
	if d := resp.Result.Details; d == nil || d.Kind != "VolumeSnapshotClass" || d.Group != snapv1.GroupName || d.Name != "c" || len(d.Causes) != 2 {
		t.Errorf("details = %+v", resp.Result.Details)
	}
}
