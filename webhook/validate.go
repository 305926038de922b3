package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

var (
	volumeSnapshotContentGK = schema.GroupKind{Group: snapv1.GroupName, Kind: "VolumeSnapshotContent"}
	volumeSnapshotClassGK   = schema.GroupKind{Group: snapv1.GroupName, Kind: "VolumeSnapshotClass"}
)

// Rules are the validating rules of every kind. Each kind's method fetches the facts its
// rule needs from Objects (and the backup pre-flight) and hands them to a pure function;
// the webhook and snaprestore validate share them. Safe for concurrent use.
type Rules struct {
	objects Objects
	opts    HandlerOptions
}

// NewRules checks objects with facts from objects; opts are defaulted here.
func NewRules(objects Objects, opts HandlerOptions) *Rules {
	opts.SetDefaults()
	return &Rules{objects: objects, opts: opts}
}

// Validate checks obj as a CREATE (old nil) or an UPDATE from old. covered is false for
// kinds the rules do not know; they are allowed untouched.
func (r *Rules) Validate(ctx context.Context, obj, old runtime.Object) (errs field.ErrorList, warnings admission.Warnings, covered bool) {
	switch o := obj.(type) {
	case *snapv1.VolumeSnapshot:
		errs, warnings = r.snapshot(ctx, o, oldAs[*snapv1.VolumeSnapshot](old))
	case *snapv1.VolumeSnapshotContent:
		errs, warnings = r.content(ctx, o, oldAs[*snapv1.VolumeSnapshotContent](old))
	case *snapv1.VolumeSnapshotClass:
		errs, warnings = r.class(ctx, o, oldAs[*snapv1.VolumeSnapshotClass](old))
	case *corev1.PersistentVolumeClaim:
		errs, warnings = r.pvc(ctx, o, oldAs[*corev1.PersistentVolumeClaim](old))
	default:
		return nil, nil, false
	}
	return errs, warnings, true
}

// requestDryRun reports whether ctx carries the admission request (the webhook; snaprestore
// validate has none) and that request is a dry run.
func requestDryRun(ctx context.Context) bool {
	req, err := admission.RequestFromContext(ctx)
	return err == nil && dryRun(req)
}

// hasBackupAnnotation reports whether obj carries a bare backup reference, which the
// mutating webhook turns into objects it creates.
func hasBackupAnnotation(obj client.Object) bool {
	_, ok := obj.GetAnnotations()[AnnotationBackup]
	return ok
}

// oldAs is old as a T, or T's zero value (nil) when old is nil or of another type.
func oldAs[T runtime.Object](old runtime.Object) T {
	t, _ := old.(T)
	return t
}

// longhorn reports whether driver's handles follow Longhorn's grammar.
func (r *Rules) longhorn(driver string) bool {
	return slices.Contains(r.opts.LonghornDrivers, driver)
}

func (r *Rules) handlers() ValidatingHandlers {
	return ValidatingHandlers{
		VolumeSnapshots: newValidatingHandler(volumeSnapshotGK, r.snapshot,
			func() *snapv1.VolumeSnapshot { return &snapv1.VolumeSnapshot{} }),
		VolumeSnapshotContents: newValidatingHandler(volumeSnapshotContentGK, r.content,
			func() *snapv1.VolumeSnapshotContent { return &snapv1.VolumeSnapshotContent{} }),
		VolumeSnapshotClasses: newValidatingHandler(volumeSnapshotClassGK, r.class,
			func() *snapv1.VolumeSnapshotClass { return &snapv1.VolumeSnapshotClass{} }),
		PersistentVolumeClaims: newValidatingHandler(persistentVolumeClaimGK, r.pvc,
			func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} }),
	}
}

// check checks obj (old is nil on CREATE) and returns the causes of a denial and
// the warnings.
type check[T client.Object] func(ctx context.Context, obj, old T) (field.ErrorList, admission.Warnings)

// validatingHandler decodes the request, runs the validation on CREATE and UPDATE and
// answers a denial as an Invalid status, so the API server prints
// `<Kind> "<name>" is invalid: <field.path>: <message>`. DELETE and CONNECT are allowed.
type validatingHandler[T client.Object] struct {
	gk       schema.GroupKind
	validate check[T]
	new      func() T
}

var _ admission.Handler = (*validatingHandler[client.Object])(nil)

func newValidatingHandler[T client.Object](gk schema.GroupKind, v check[T], newObj func() T) *validatingHandler[T] {
	return &validatingHandler[T]{gk: gk, validate: v, new: newObj}
}

// Handle implements admission.Handler. A malformed object is a 400 and a panic in a rule
// a 500; neither takes the server down.
func (h *validatingHandler[T]) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			logf.FromContext(ctx).Error(fmt.Errorf("%v", p), "Validation panicked", "kind", h.gk.Kind, "name", req.Name)
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("validating %s %q failed: internal error", h.gk.Kind, req.Name))
		}
	}()
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	case admissionv1.Delete, admissionv1.Connect:
		return admission.Allowed("")
	default:
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("request.operation %q: expected CREATE, UPDATE, DELETE or CONNECT", req.Operation))
	}
	obj := h.new()
	if err := h.decode(req.Object, obj, "object"); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	var old T
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = h.new()
		if err := h.decode(req.OldObject, old, "oldObject"); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	errs, warnings := h.validate(admission.NewContextWithRequest(ctx, req), obj, old)
	logf.FromContext(ctx).V(1).Info("Validated", "kind", h.gk.Kind, "name", obj.GetName(), "causes", len(errs), "warnings", len(warnings))
	if len(errs) == 0 {
		return admission.Allowed("").WithWarnings(warnings...)
	}
	name := obj.GetName()
	if name == "" {
		name = req.Name
	}
	return deny(h.gk, name, errs).WithWarnings(warnings...)
}

func (h *validatingHandler[T]) decode(raw runtime.RawExtension, into T, what string) error {
	return decodeReview(h.gk, raw, into, what)
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
