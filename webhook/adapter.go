package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// The two admission adapters (validating and mutating) share one path: the operation
// filter, the decode of request.object and request.oldObject, panic recovery, and the
// metrics (instrument, applied by the handlers' constructors).

// decodeAdmission decodes what both adapters judge: obj, and old on an UPDATE that carries one.
// judge is false for DELETE and CONNECT (answered resp: allowed) and for an operation
// that does not exist or an undecodable object (resp: a 400).
func decodeAdmission[T client.Object](gk schema.GroupKind, req admission.Request, newObj func() T) (obj, old T, judge bool, resp admission.Response) {
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	case admissionv1.Delete, admissionv1.Connect:
		return obj, old, false, admission.Allowed("")
	default:
		return obj, old, false, admission.Errored(http.StatusBadRequest, fmt.Errorf("request.operation %q: expected CREATE, UPDATE, DELETE or CONNECT", req.Operation))
	}
	obj = newObj()
	if err := decodeReview(gk, req.Object, obj, "object"); err != nil {
		return obj, old, false, admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = newObj()
		if err := decodeReview(gk, req.OldObject, old, "oldObject"); err != nil {
			return obj, old, false, admission.Errored(http.StatusBadRequest, err)
		}
	}
	return obj, old, true, admission.Response{}
}

// recoverReview, deferred by both adapters, answers a panic in a rule or mutation as a
// 500 naming the kind and the object, and logs it; the server stays up.
func recoverReview(ctx context.Context, gk schema.GroupKind, req admission.Request, verb string, resp *admission.Response) {
	if p := recover(); p != nil {
		logf.FromContext(ctx).Error(fmt.Errorf("%v", p), verb+" panicked", "kind", gk.Kind, "name", req.Name)
		*resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("%s %s %q failed: internal error", verb, gk.Kind, req.Name))
	}
}

// reviewHandler is the one admission adapter: it decodes the request (decodeAdmission),
// recovers a panic (recoverReview) and hands CREATEs and UPDATEs to judge with the
// request in the context. The validating and mutating handlers differ only in judge.
type reviewHandler[T client.Object] struct {
	gk    schema.GroupKind
	verb  string // "validating" or "mutating", in logs and 500s
	new   func() T
	judge func(ctx context.Context, req admission.Request, obj, old T) admission.Response
}

var _ admission.Handler = (*reviewHandler[client.Object])(nil)

// Handle implements admission.Handler. A malformed object is a 400 and a panic in a rule
// or mutation a 500; neither takes the server down.
func (h *reviewHandler[T]) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer recoverReview(ctx, h.gk, req, h.verb, &resp)
	obj, old, judge, resp := decodeAdmission(h.gk, req, h.new)
	if !judge {
		return resp
	}
	return h.judge(admission.NewContextWithRequest(ctx, req), req, obj, old)
}

// check checks obj (old is nil on CREATE) and returns the causes of a denial and
// the warnings.
type check[T client.Object] func(ctx context.Context, obj, old T) (field.ErrorList, admission.Warnings)

// newValidatingHandler runs v on CREATE and UPDATE and answers a denial as an Invalid
// status, so the API server prints `<Kind> "<name>" is invalid: <field.path>: <message>`.
// DELETE and CONNECT are allowed.
func newValidatingHandler[T client.Object](gk schema.GroupKind, v check[T], newObj func() T) *reviewHandler[T] {
	return &reviewHandler[T]{gk: gk, verb: "validating", new: newObj, judge: func(ctx context.Context, req admission.Request, obj, old T) admission.Response {
		errs, warnings := v(ctx, obj, old)
		logf.FromContext(ctx).V(1).Info("Validated", "kind", gk.Kind, "name", obj.GetName(), "causes", len(errs), "warnings", len(warnings))
		if len(errs) == 0 {
			return admission.Allowed("").WithWarnings(warnings...)
		}
		name := obj.GetName()
		if name == "" {
			name = req.Name
		}
		return deny(gk, name, errs).WithWarnings(warnings...)
	}}
}

// mutation is one mutating rule set. mutate edits obj in place (the adapter computes the
// JSON patch); old is nil on CREATE. An error implementing APIStatus becomes a structured
// denial; any other error is an internal error.
type mutation[T client.Object] interface {
	mutate(ctx context.Context, req admission.Request, obj, old T) (admission.Warnings, error)
}

// newMutatingHandler runs m on CREATE and UPDATE and answers with the JSON patch between
// the raw object and the edited one (gomodules.xyz/jsonpatch/v2 via
// admission.PatchResponseFromRaw); an object m leaves as it was is allowed without one.
func newMutatingHandler[T client.Object](gk schema.GroupKind, m mutation[T], newObj func() T) *reviewHandler[T] {
	return &reviewHandler[T]{gk: gk, verb: "mutating", new: newObj, judge: func(ctx context.Context, req admission.Request, obj, old T) admission.Response {
		return mutated(req, obj, func() (admission.Warnings, error) { return m.mutate(ctx, req, obj, old) })
	}}
}

// mutated runs mutate on obj and answers with the patch, or the denial or error.
func mutated(req admission.Request, obj client.Object, mutate func() (admission.Warnings, error)) admission.Response {
	before, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	warnings, err := mutate()
	if err != nil {
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			result := status.Status()
			return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &result}}.WithWarnings(warnings...)
		}
		return admission.Errored(http.StatusInternalServerError, err).WithWarnings(warnings...)
	}
	edited, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if bytes.Equal(before, edited) {
		return admission.Allowed("").WithWarnings(warnings...)
	}
	resp := admission.PatchResponseFromRaw(req.Object.Raw, edited)
	// The mutations only add or replace fields. A "remove" can only come from fields the Go
	// type does not know or omits when empty; dropping those keeps the user's object intact.
	resp.Patches = slices.DeleteFunc(resp.Patches, func(p jsonpatch.JsonPatchOperation) bool { return p.Operation == "remove" })
	if len(resp.Patches) == 0 {
		resp.PatchType = nil
	}
	return resp.WithWarnings(warnings...)
}

// decodeReview decodes request.<what> (object or oldObject) of an AdmissionReview into a
// gk.Kind of version v1, the version every webhook rule names. It is one case-sensitive
// JSON decode into the typed object, as the API server's own decoder does; the
// universal deserializer would read the JSON twice and convert for nothing (the
// project's schemes register no defaulting or conversion for these kinds), and decoding
// was half of a handler's CPU (docs/bench.md). Its errors, answered as 400s by both
// adapters, name the request field and the expected kind.
func decodeReview(gk schema.GroupKind, raw runtime.RawExtension, into runtime.Object, what string) error {
	if len(raw.Raw) == 0 {
		return fmt.Errorf("request.%s: no %s in the AdmissionReview; expected the %s being admitted", what, gk.Kind, gk.Kind)
	}
	if err := utiljson.Unmarshal(raw.Raw, into); err != nil {
		return fmt.Errorf("request.%s: not a %s: %w", what, gk.Kind, err)
	}
	want := gk.WithVersion("v1")
	if got := into.GetObjectKind().GroupVersionKind(); got != want {
		return fmt.Errorf("request.%s: not a %s: apiVersion %q, kind %q; expected apiVersion %q, kind %q",
			what, gk.Kind, got.GroupVersion().String(), got.Kind, want.GroupVersion().String(), want.Kind)
	}
	return nil
}

// deny answers errs as the API server's own validation would: an Invalid status whose
// message names the kind (without group, as kubectl users know it) and the object, and
// whose details carry each cause.
func deny(gk schema.GroupKind, name string, errs field.ErrorList) admission.Response {
	status := apierrors.NewInvalid(schema.GroupKind{Kind: gk.Kind}, name, errs).Status()
	if status.Details != nil {
		status.Details.Group = gk.Group
	}
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
}
