package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"
)

// FuzzValidatingReview posts arbitrary bytes as an AdmissionReview body to every
// validating handler, through controller-runtime's webhook.Admission as the server does.
// Whatever the bytes, the answer is an AdmissionReview, never an internal error (a panic in
// a rule would be one), and only a review with a request of a known operation is allowed.
func FuzzValidatingReview(f *testing.F) {
	for _, seed := range []string{
		review(admissionv1.Create, "volumesnapshots", "VolumeSnapshot", "apps", "s", `{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","metadata":{"name":"s"},"spec":{"source":{"volumeSnapshotContentName":"c"}}}`, ""),
		review(admissionv1.Update, "volumesnapshotcontents", "VolumeSnapshotContent", "", "c",
			`{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotContent","metadata":{"name":"c"},"spec":{"deletionPolicy":"Delete","driver":"driver.longhorn.io","source":{"snapshotHandle":"bs://v/b"},"volumeSnapshotRef":{"name":"s"}}}`,
			`{"spec":{"source":{"volumeHandle":"v"},"sourceVolumeMode":"Block"}}`),
		review(admissionv1.Create, "persistentvolumeclaims", "PersistentVolumeClaim", "apps", "p", `{"apiVersion":"v1","kind":"PersistentVolumeClaim","spec":{"dataSource":{"kind":"VolumeSnapshot","name":"s"},"resources":{"requests":{"storage":"1Gi"}}}}`, ""),
		`{"request":{"operation":"CREATE","object":{"spec":{"source":"x"}}}}`,
		`{"request":`,
	} {
		f.Add([]byte(seed))
	}
	facts := factStore{
		contents:  map[string]*snapv1.VolumeSnapshotContent{"c": ruleContent("c", nil)},
		snapshots: map[string]*snapv1.VolumeSnapshot{"apps/s": ruleSnapshot(nil)},
		classes:   map[string]*snapv1.VolumeSnapshotClass{"k": ruleClass("k", DefaultLonghornDriver, true, nil)},
	}
	h := NewRules(facts, HandlerOptions{Backups: fakeBackups{"b": 1 << 30}}).handlers()
	handlers := map[string]*webhook.Admission{
		"snapshot": {Handler: h.VolumeSnapshots}, "content": {Handler: h.VolumeSnapshotContents},
		"class": {Handler: h.VolumeSnapshotClasses}, "pvc": {Handler: h.PersistentVolumeClaims},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for kind, a := range handlers {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			a.ServeHTTP(rec, req)
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("%s: answer is not an AdmissionReview (HTTP %d): %s", kind, rec.Code, rec.Body.Bytes())
			}
			r := out.Response
			code := int32(0)
			if r.Result != nil {
				code = r.Result.Code
			}
			if code == http.StatusInternalServerError {
				t.Fatalf("%s: internal error for %q: %s", kind, body, r.Result.Message)
			}
			if r.Allowed && !knownOperation(body) {
				t.Fatalf("%s: allowed a review without a known operation: %q", kind, body)
			}
		}
	})
}

// knownOperation reports whether body is an AdmissionReview (JSON or YAML, which
// controller-runtime's decoder also reads) with a request of a known operation.
func knownOperation(body []byte) bool {
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &ar); err != nil {
		ar = admissionv1.AdmissionReview{}
		if err := yaml.Unmarshal(body, &ar); err != nil {
			return false
		}
	}
	if ar.Request == nil {
		return false
	}
	switch ar.Request.Operation {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return true
	}
	return false
}
