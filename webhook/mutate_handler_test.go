package webhook

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// editMutation is a mutation fake for the adapter: it sets a class name, leaves the object
// alone (keep), or fails.
type editMutation struct {
	err  error
	keep bool
}

func (m editMutation) mutate(_ context.Context, _ admission.Request, s, _ *snapv1.VolumeSnapshot) (admission.Warnings, error) {
	if m.err != nil {
		return admission.Warnings{"w"}, m.err
	}
	if m.keep {
		return admission.Warnings{"w"}, nil
	}
	s.Spec.VolumeSnapshotClassName = ptr.To("set")
	return admission.Warnings{"w"}, nil
}

func TestMutatingHandler(t *testing.T) {
	t.Parallel()
	newSnap := func() *snapv1.VolumeSnapshot { return &snapv1.VolumeSnapshot{} }
	// The raw object has a field the Go type does not know; the patch must not remove it.
	raw := []byte(`{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","metadata":{"name":"s","namespace":"n"},"spec":{"source":{"volumeSnapshotContentName":"c"},"future":1}}`)
	request := func(op admissionv1.Operation, obj []byte) admission.Request {
		return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: op, Name: "s", Namespace: "n",
			Object: runtime.RawExtension{Raw: obj},
		}}
	}
	updateRequest := func(obj, old []byte) admission.Request {
		r := request(admissionv1.Update, obj)
		r.OldObject = runtime.RawExtension{Raw: old}
		return r
	}
	tests := []struct {
		name        string
		mutation    editMutation
		req         admission.Request
		wantAllowed bool
		wantCode    int32
		wantPatches []jsonpatch.JsonPatchOperation
		wantWarn    []string
		wantMsg     string // prefix of the result's message, when set
	}{
		{"create edits", editMutation{}, request(admissionv1.Create, raw), true, 0,
			[]jsonpatch.JsonPatchOperation{{Operation: "add", Path: "/spec/volumeSnapshotClassName", Value: "set"}}, []string{"w"}, ""},
		{"delete passes", editMutation{}, request(admissionv1.Delete, nil), true, http.StatusOK, nil, nil, ""},
		{"unchanged object has no patch", editMutation{keep: true}, request(admissionv1.Create, raw), true, http.StatusOK, nil, []string{"w"}, ""},
		{"malformed object", editMutation{}, request(admissionv1.Create, []byte(`{"spec":`)), false, http.StatusBadRequest, nil, nil,
			"request.object: not a VolumeSnapshot: "},
		{"malformed old object", editMutation{}, updateRequest(raw, []byte(`[]`)), false, http.StatusBadRequest, nil, nil,
			"request.oldObject: not a VolumeSnapshot: "},
		{"object of another kind", editMutation{}, request(admissionv1.Create, []byte(`{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"s"}}`)),
			false, http.StatusBadRequest, nil, nil,
			`request.object: not a VolumeSnapshot: apiVersion "v1", kind "PersistentVolumeClaim"; expected apiVersion "snapshot.storage.k8s.io/v1", kind "VolumeSnapshot"`},
		{"object without apiVersion and kind", editMutation{}, request(admissionv1.Create, []byte(`{"metadata":{"name":"s"}}`)),
			false, http.StatusBadRequest, nil, nil,
			`request.object: not a VolumeSnapshot: apiVersion "", kind ""; expected apiVersion "snapshot.storage.k8s.io/v1", kind "VolumeSnapshot"`},
		{"object of another version", editMutation{}, request(admissionv1.Create, []byte(`{"apiVersion":"snapshot.storage.k8s.io/v1beta1","kind":"VolumeSnapshot"}`)),
			false, http.StatusBadRequest, nil, nil,
			`request.object: not a VolumeSnapshot: apiVersion "snapshot.storage.k8s.io/v1beta1", kind "VolumeSnapshot"; expected apiVersion "snapshot.storage.k8s.io/v1", kind "VolumeSnapshot"`},
		{"no object", editMutation{}, request(admissionv1.Create, nil), false, http.StatusBadRequest, nil, nil,
			"request.object: no VolumeSnapshot in the AdmissionReview; expected the VolumeSnapshot being admitted"},
		{"internal error", editMutation{err: context.Canceled}, request(admissionv1.Create, raw), false, http.StatusInternalServerError, nil, []string{"w"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := newMutatingHandler[*snapv1.VolumeSnapshot](volumeSnapshotGK, tt.mutation, newSnap).Handle(context.Background(), tt.req)
			code := int32(0)
			if resp.Result != nil {
				code = resp.Result.Code
			}
			if resp.Allowed != tt.wantAllowed || code != tt.wantCode {
				t.Errorf("allowed, code = %v, %d; want %v, %d (result %+v)", resp.Allowed, code, tt.wantAllowed, tt.wantCode, resp.Result)
			}
			if tt.wantMsg != "" && (resp.Result == nil || !strings.HasPrefix(resp.Result.Message, tt.wantMsg)) {
				t.Errorf("result %+v; want a message starting %q", resp.Result, tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantPatches, resp.Patches); diff != "" {
				t.Errorf("patches (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarn, []string(resp.Warnings)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPVCMutationWithoutBackup: a claim restoring a VolumeSnapshot reaches the mutating PVC
// handler (its matchCondition); without snaprestore.io/backup it gets no patch, and a
// wrong or missing apiGroup is denied before the API server would drop the data source.
func TestPVCMutationWithoutBackup(t *testing.T) {
	t.Parallel()
	h := newMutatingHandler(persistentVolumeClaimGK, &pvcMutation{defaultDriver: DefaultLonghornDriver},
		func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} })
	claim := func(source string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c","namespace":"n"},` +
			`"spec":{"dataSource":` + source + `,"resources":{"requests":{"storage":"1Gi"}}}}`)
	}
	tests := []struct {
		name, source string
		op           admissionv1.Operation
		wantAllowed  bool
		wantMsg      string
	}{
		{"right apiGroup", `{"apiGroup":"snapshot.storage.k8s.io","kind":"VolumeSnapshot","name":"s"}`, admissionv1.Create, true, ""},
		{"no apiGroup", `{"kind":"VolumeSnapshot","name":"s"}`, admissionv1.Create, false,
			`PersistentVolumeClaim "c" is invalid: spec.dataSource.apiGroup: Required value: ` + apiGroupMessage},
		{"wrong apiGroup", `{"apiGroup":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","name":"s"}`, admissionv1.Create, false,
			`PersistentVolumeClaim "c" is invalid: spec.dataSource.apiGroup: Invalid value: "snapshot.storage.k8s.io/v1": ` + apiGroupMessage},
		{"wrong apiGroup on update is not judged again", `{"apiGroup":"x","kind":"VolumeSnapshot","name":"s"}`, admissionv1.Update, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: tt.op, Name: "c", Namespace: "n",
				Object: runtime.RawExtension{Raw: claim(tt.source)}}}
			if tt.op == admissionv1.Update {
				req.OldObject = req.Object
			}
			resp := h.Handle(context.Background(), req)
			if resp.Allowed != tt.wantAllowed || len(resp.Patches) != 0 || resp.PatchType != nil {
				t.Errorf("allowed %v, patches %v (type %v); want allowed %v and no patch", resp.Allowed, resp.Patches, resp.PatchType, tt.wantAllowed)
			}
			var msg string
			if !resp.Allowed && resp.Result != nil {
				msg = resp.Result.Message
			}
			if msg != tt.wantMsg {
				t.Errorf("denial message %q\nwant %q", msg, tt.wantMsg)
			}
		})
	}
}
