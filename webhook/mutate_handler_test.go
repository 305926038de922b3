package webhook

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// editMutation is a mutation fake for the adapter: it sets a class name, or fails.
type editMutation struct{ err error }

func (m editMutation) mutate(_ context.Context, _ admission.Request, s, _ *snapv1.VolumeSnapshot) (admission.Warnings, error) {
	if m.err != nil {
		return admission.Warnings{"w"}, m.err
	}
	s.Spec.VolumeSnapshotClassName = ptr.To("set")
	return admission.Warnings{"w"}, nil
}

func TestMutatingHandler(t *testing.T) {
	t.Parallel()
	scheme := runtime.NewScheme()
	utilruntime.Must(snapv1.AddToScheme(scheme))
	newSnap := func() *snapv1.VolumeSnapshot { return &snapv1.VolumeSnapshot{} }
	// The raw object has a field the Go type does not know; the patch must not remove it.
	raw := []byte(`{"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","metadata":{"name":"s","namespace":"n"},"spec":{"source":{"volumeSnapshotContentName":"c"},"future":1}}`)
	request := func(op admissionv1.Operation, obj []byte) admission.Request {
		return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: op, Name: "s", Namespace: "n",
			Object: runtime.RawExtension{Raw: obj},
		}}
	}
	tests := []struct {
		name        string
		mutation    editMutation
		req         admission.Request
		wantAllowed bool
		wantCode    int32
		wantPatches []jsonpatch.JsonPatchOperation
		wantWarn    []string
	}{
		{"create edits", editMutation{}, request(admissionv1.Create, raw), true, 0,
			[]jsonpatch.JsonPatchOperation{{Operation: "add", Path: "/spec/volumeSnapshotClassName", Value: "set"}}, []string{"w"}},
		{"delete passes", editMutation{}, request(admissionv1.Delete, nil), true, http.StatusOK, nil, nil},
		{"malformed object", editMutation{}, request(admissionv1.Create, []byte(`{"spec":`)), false, http.StatusBadRequest, nil, nil},
		{"internal error", editMutation{err: context.Canceled}, request(admissionv1.Create, raw), false, http.StatusInternalServerError, nil, []string{"w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := newMutatingHandler[*snapv1.VolumeSnapshot](scheme, tt.mutation, newSnap).Handle(context.Background(), tt.req)
			code := int32(0)
			if resp.Result != nil {
				code = resp.Result.Code
			}
			if resp.Allowed != tt.wantAllowed || code != tt.wantCode {
				t.Errorf("allowed, code = %v, %d; want %v, %d (result %+v)", resp.Allowed, code, tt.wantAllowed, tt.wantCode, resp.Result)
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
