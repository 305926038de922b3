package webhook

import (
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
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

// dryRun reports whether the request must not have side effects.
func dryRun(req admission.Request) bool {
	return req.DryRun != nil && *req.DryRun
}

// annotationPath is the field path of an annotation, e.g. metadata.annotations[snaprestore.io/backup].
func annotationPath(key string) *field.Path {
	return field.NewPath("metadata", "annotations").Key(key)
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
