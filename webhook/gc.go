package webhook

import (
	"fmt"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
)

// Reasons orphaned gives. They are stable: tests and logs use them.
const (
	reasonNotOurs      = "not created by snaprestore"
	reasonDeletePolicy = "deletionPolicy is Delete"
	reasonBound        = "bound to a VolumeSnapshot uid"
	reasonDeleting     = "already being deleted"
	reasonClaimed      = "claimed by its VolumeSnapshot"
	reasonGrace        = "within the grace period"
	reasonOrphaned     = "no VolumeSnapshot claims it after the grace period"
)

// orphaned is the orphan GC's whole policy (#4). The mutating webhook creates a content
// before the VolumeSnapshot is stored, so a later admission stage can still reject the
// snapshot; such a content is deleted once no snapshot has claimed it for grace. It never
// deletes:
//   - a content snaprestore did not create (label plus annotations that match the ref);
//   - one with deletionPolicy Delete (deleting it would delete the backup);
//   - one bound to a snapshot uid (the snapshot controller owns its lifecycle now).
//
// claimed means the VolumeSnapshot named by spec.volumeSnapshotRef exists and its
// spec.source.volumeSnapshotContentName names this content.
func orphaned(c *snapv1.VolumeSnapshotContent, claimed bool, now time.Time, grace time.Duration) (bool, string) {
	ref := c.Spec.VolumeSnapshotRef
	switch {
	case !createdBySnaprestore(c):
		return false, reasonNotOurs
	case c.Spec.DeletionPolicy != snapv1.VolumeSnapshotContentRetain:
		return false, reasonDeletePolicy
	case ref.UID != "":
		return false, reasonBound
	case c.DeletionTimestamp != nil:
		return false, reasonDeleting
	case claimed:
		return false, reasonClaimed
	case now.Before(gcDeadline(c, grace)):
		return false, reasonGrace
	}
	return true, reasonOrphaned
}

// gcDeadline is when an unclaimed content becomes an orphan.
func gcDeadline(c *snapv1.VolumeSnapshotContent, grace time.Duration) time.Time {
	return c.CreationTimestamp.Add(grace)
}

// createdBySnaprestore checks the marks the webhook puts on every content it creates.
func createdBySnaprestore(c *snapv1.VolumeSnapshotContent) bool {
	ref := c.Spec.VolumeSnapshotRef
	return c.Labels[LabelManagedBy] == ManagedByValue &&
		c.Annotations[AnnotationSnapshotNamespace] != "" &&
		c.Annotations[AnnotationSnapshotNamespace] == ref.Namespace &&
		c.Annotations[AnnotationSnapshotName] != "" &&
		c.Annotations[AnnotationSnapshotName] == ref.Name &&
		c.Spec.Source.SnapshotHandle != nil
}

// claims reports whether snap (nil when it does not exist) claims content c.
func claims(snap *snapv1.VolumeSnapshot, c *snapv1.VolumeSnapshotContent) bool {
	return snap != nil && deref(snap.Spec.Source.VolumeSnapshotContentName) == c.Name
}

// describeContent names a content's snapshot for log lines.
func describeContent(c *snapv1.VolumeSnapshotContent) string {
	return fmt.Sprintf("%s/%s", c.Spec.VolumeSnapshotRef.Namespace, c.Spec.VolumeSnapshotRef.Name)
}
