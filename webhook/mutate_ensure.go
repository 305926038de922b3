package webhook

import (
	"context"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// apiObjects is the I/O edge of the mutating webhook's one side effect: creating the
// objects a bare backup reference needs. Reads go through the manager's cache; creates go
// straight to the API server; when a create finds the object already there (a cache that
// has not caught up, a concurrent admission), the stored object is read live and compared.
type apiObjects struct {
	cache  client.Reader // the manager's informer-backed reader
	live   client.Reader // an uncached reader (manager.GetAPIReader)
	writer client.Writer // creates are never cached
}

// get reads through the cache and, when the cache does not have the object (yet), once
// more from the API server: an object created a moment before the admission request (a
// VolumeSnapshotClass in the same kubectl apply) must not be reported missing.
func (s apiObjects) get(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	err := s.cache.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		err = s.live.Get(ctx, key, obj)
	}
	return err
}

// ensureOutcome says what ensure did.
type ensureOutcome string

const (
	outcomeCreated  ensureOutcome = "created"
	outcomeReused   ensureOutcome = "reused"
	outcomeDryRun   ensureOutcome = "dry_run"
	outcomeConflict ensureOutcome = "conflict"
)

// ensure makes want exist, reusing an existing object when differences finds none. A
// non-empty diffs slice means an object with want's name exists and cannot be reused; the
// caller turns it into a denial. With dryRun nothing is created (sideEffects: NoneOnDryRun)
// but an existing conflicting object is still reported, so a dry run gives the same verdict.
// existing is scratch space of want's type.
func ensure[T client.Object](ctx context.Context, s apiObjects, want, existing T, differences func(T) []string, dryRun bool) (ensureOutcome, []string, error) {
	key := client.ObjectKeyFromObject(want)
	err := s.cache.Get(ctx, key, existing)
	switch {
	case err == nil:
		return compared(differences(existing))
	case !apierrors.IsNotFound(err):
		return "", nil, fmt.Errorf("read %s %s: %w", kindOf(want), key, err)
	}
	if dryRun {
		return outcomeDryRun, nil, nil
	}
	err = s.writer.Create(ctx, want)
	switch {
	case err == nil:
		return outcomeCreated, nil, nil
	case !apierrors.IsAlreadyExists(err):
		return "", nil, fmt.Errorf("create %s %s: %w", kindOf(want), key, err)
	}
	if err := s.live.Get(ctx, key, existing); err != nil {
		return "", nil, fmt.Errorf("read %s %s after create found it: %w", kindOf(want), key, err)
	}
	return compared(differences(existing))
}

func compared(diffs []string) (ensureOutcome, []string, error) {
	if len(diffs) > 0 {
		return outcomeConflict, diffs, nil
	}
	return outcomeReused, nil, nil
}

func kindOf(o client.Object) string {
	if k := o.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", o)
}

// conflictError is a denial reason: an object with the wanted name exists and differs.
type conflictError string

func (e conflictError) Error() string { return string(e) }

// ensureContent makes the content of cr exist and counts what happened. A conflict comes
// back as a conflictError for the caller to place behind the right field path.
func ensureContent(ctx context.Context, s apiObjects, cr contentRequest, canonical func(string) string, dryRun bool, source string) error {
	want := desiredContent(cr)
	outcome, diffs, err := ensure(ctx, s, want, &snapv1.VolumeSnapshotContent{},
		func(have *snapv1.VolumeSnapshotContent) []string { return contentDifferences(have, cr, canonical) }, dryRun)
	if err != nil {
		return err
	}
	recordEnsure("VolumeSnapshotContent", source, outcome)
	logf.FromContext(ctx).V(1).Info("Ensured VolumeSnapshotContent", "content", cr.Name, "outcome", outcome, "handle", cr.Handle)
	if outcome == outcomeConflict {
		return conflictError(contentConflict(cr.Name, diffs))
	}
	return nil
}
