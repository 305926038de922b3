package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

// Annotations a user puts on a VolumeSnapshot or PVC to restore a backup without writing
// the VolumeSnapshotContent by hand (#4).
const (
	// AnnotationBackup holds a bare backup reference: bak:// or bs:// handle,
	// "<volume>/<backup>", or the backup URL the Longhorn UI shows.
	AnnotationBackup = "snaprestore.io/backup"
	// AnnotationDeletionPolicy set to "Delete" gives the created content deletionPolicy
	// Delete; anything else (or nothing) means Retain, so an imported backup does not vanish
	// with its snapshot.
	AnnotationDeletionPolicy = "snaprestore.io/deletion-policy"
)

// DefaultGCGracePeriod is how long an unclaimed created content is kept (--gc-grace-period).
const DefaultGCGracePeriod = 2 * time.Minute

// BackupSizer reports the volume size of a backup in bytes; known is false when the
// backupstore is not configured or does not have the backup. The restore engine provides
// one; a nil BackupSizer means sizes are never known and PVC requests are left alone.
type BackupSizer interface {
	BackupSize(ctx context.Context, ref restore.Reference) (size int64, known bool, err error)
}

// BackupChecker is the backup pre-flight: it reports a reference at path that names no
// restorable backup in the configured backupstore (errors) or could not be checked
// (warnings). *Preflight implements it, also when nil.
type BackupChecker interface {
	CheckHandle(ctx context.Context, path *field.Path, handle string) (field.ErrorList, admission.Warnings)
}

// MutateOptions configures the mutating handlers and the orphan GC.
type MutateOptions struct {
	// DefaultDriver is the content driver when no VolumeSnapshotClass (or, for a PVC, no
	// StorageClass) names one. Default driver.longhorn.io.
	DefaultDriver string
	// GCGracePeriod is how long a created content no snapshot claims survives. Default 2m.
	GCGracePeriod time.Duration
	// Sizes tells the PVC handler a backup's size; nil means unknown.
	Sizes BackupSizer
	// Backups checks that a referenced backup exists before anything is created; nil
	// checks nothing.
	Backups BackupChecker
	// PopulateUnless, when set (the populator runs), lists the Longhorn drivers: an
	// annotated PVC of a class of another provisioner gets a BackupSource instead of
	// a VolumeSnapshot. Default nil: every annotated PVC gets a VolumeSnapshot.
	PopulateUnless []string
}

// SetDefaults fills unset fields with their documented defaults.
func (o *MutateOptions) SetDefaults() {
	if o.DefaultDriver == "" {
		o.DefaultDriver = "driver.longhorn.io"
	}
	if o.GCGracePeriod == 0 {
		o.GCGracePeriod = DefaultGCGracePeriod
	}
}

// Validate reports a negative grace period.
func (o *MutateOptions) Validate() error {
	if o.GCGracePeriod < 0 {
		return fmt.Errorf("--gc-grace-period %s: must not be negative", o.GCGracePeriod)
	}
	return nil
}

// mutation is one mutating rule set. mutate edits obj in place (the adapter computes the
// JSON patch); old is nil on CREATE. An error implementing APIStatus becomes a structured
// denial; any other error is an internal error.
type mutation[T client.Object] interface {
	mutate(ctx context.Context, req admission.Request, obj, old T) (admission.Warnings, error)
}

// mutatingHandler decodes the request, runs the mutation and answers with the JSON patch
// between the raw object and the edited one (gomodules.xyz/jsonpatch/v2 via
// admission.PatchResponseFromRaw).
type mutatingHandler[T client.Object] struct {
	gk       schema.GroupKind
	mutation mutation[T]
	new      func() T
}

var _ admission.Handler = (*mutatingHandler[client.Object])(nil)

func newMutatingHandler[T client.Object](gk schema.GroupKind, m mutation[T], newObj func() T) *mutatingHandler[T] {
	return &mutatingHandler[T]{gk: gk, mutation: m, new: newObj}
}

// Handle implements admission.Handler. An object the mutation leaves as it was is allowed
// without a patch.
func (h *mutatingHandler[T]) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	obj := h.new()
	if err := decodeReview(h.gk, req.Object, obj, "object"); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	var old T
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = h.new()
		if err := decodeReview(h.gk, req.OldObject, old, "oldObject"); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	before, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	warnings, err := h.mutation.mutate(admission.NewContextWithRequest(ctx, req), req, obj, old)
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

// dryRun reports whether the request must not have side effects.
func dryRun(req admission.Request) bool {
	return req.DryRun != nil && *req.DryRun
}

// annotationPath is the field path of an annotation, e.g. metadata.annotations[snaprestore.io/backup].
func annotationPath(key string) *field.Path {
	return field.NewPath("metadata", "annotations").Key(key)
}

// checkBackup runs the pre-flight on the annotation's value, if there is a checker.
func checkBackup(ctx context.Context, c BackupChecker, value string) (field.ErrorList, admission.Warnings) {
	if c == nil {
		return nil, nil
	}
	return c.CheckHandle(ctx, annotationPath(AnnotationBackup), value)
}

// parseBackupAnnotation parses the reference; a *restore.HandleError becomes a field error
// behind the annotation's path with the grammar's problem and expected form.
func parseBackupAnnotation(value string) (restore.Reference, *field.Error) {
	ref, err := restore.ParseReference(value)
	if err == nil {
		return ref, nil
	}
	var he *restore.HandleError
	if errors.As(err, &he) {
		return ref, field.Invalid(annotationPath(AnnotationBackup), value, he.Problem+"; expected "+he.Expected)
	}
	return ref, field.Invalid(annotationPath(AnnotationBackup), value, err.Error())
}
