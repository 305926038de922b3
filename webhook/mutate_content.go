package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations snaprestore puts on the objects it creates (#4). The GC controller
// only ever deletes a VolumeSnapshotContent that carries all of them, so a content a user
// wrote by hand is never collected.
const (
	// LabelManagedBy marks objects created by the mutating webhook.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on objects snaprestore created.
	ManagedByValue = "snaprestore"
	// AnnotationSnapshotNamespace and AnnotationSnapshotName name the VolumeSnapshot a created
	// VolumeSnapshotContent was made for.
	AnnotationSnapshotNamespace = "snaprestore.io/snapshot-namespace"
	AnnotationSnapshotName      = "snaprestore.io/snapshot-name"
	// AnnotationPersistentVolumeClaim names the PVC a created VolumeSnapshot was made for.
	AnnotationPersistentVolumeClaim = "snaprestore.io/persistentvolumeclaim"
)

// contentNamePrefix starts every generated VolumeSnapshotContent name.
const contentNamePrefix = "snaprestore-"

// contentName derives the VolumeSnapshotContent name for a snapshot restoring handle. The
// name depends only on its inputs, so a retried, reinvoked or re-applied admission finds
// the content an earlier call created instead of making a second one; the handle is part of
// the hash so that pointing a re-created snapshot at another backup gets a fresh content.
func contentName(namespace, snapshot, handle string) string {
	sum := sha256.Sum256([]byte(namespace + "\x00" + snapshot + "\x00" + handle))
	return contentNamePrefix + hex.EncodeToString(sum[:10])
}

// contentRequest is everything the webhook knows about the content it wants to exist.
type contentRequest struct {
	Name              string // content name
	SnapshotNamespace string
	SnapshotName      string
	Handle            string // canonical bak:// handle
	Driver            string
	Class             *string // volumeSnapshotClassName of the snapshot, nil when unset
	DeletionPolicy    snapv1.DeletionPolicy
}

// desiredContent builds the VolumeSnapshotContent for r. It is pre-provisioned: the
// snapshot controller binds it to the snapshot named in volumeSnapshotRef.
func desiredContent(r contentRequest) *snapv1.VolumeSnapshotContent {
	handle := r.Handle
	var class *string
	if r.Class != nil {
		c := *r.Class
		class = &c
	}
	return &snapv1.VolumeSnapshotContent{
		TypeMeta: metav1.TypeMeta{APIVersion: snapv1.SchemeGroupVersion.String(), Kind: "VolumeSnapshotContent"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   r.Name,
			Labels: map[string]string{LabelManagedBy: ManagedByValue},
			Annotations: map[string]string{
				AnnotationSnapshotNamespace: r.SnapshotNamespace,
				AnnotationSnapshotName:      r.SnapshotName,
			},
		},
		Spec: snapv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef:       corev1.ObjectReference{Namespace: r.SnapshotNamespace, Name: r.SnapshotName},
			DeletionPolicy:          r.DeletionPolicy,
			Driver:                  r.Driver,
			VolumeSnapshotClassName: class,
			Source:                  snapv1.VolumeSnapshotContentSource{SnapshotHandle: &handle},
		},
	}
}

// contentDifferences lists, as "field: existing value, wanted value" phrases, why an existing
// content cannot serve as the one r asks for. Labels and annotations do not matter: a
// hand-written content with the right spec is reused as it is. canonical turns a stored
// snapshotHandle into its canonical form (so a legacy bs:// handle equals its bak:// form).
func contentDifferences(existing *snapv1.VolumeSnapshotContent, r contentRequest, canonical func(string) string) []string {
	var diffs []string
	add := func(field, have, want string) {
		if have != want {
			diffs = append(diffs, fmt.Sprintf("%s is %q, not %q", field, have, want))
		}
	}
	s := existing.Spec
	handle := ""
	switch {
	case s.Source.SnapshotHandle != nil:
		handle = canonical(*s.Source.SnapshotHandle)
	case s.Source.VolumeHandle != nil:
		diffs = append(diffs, fmt.Sprintf("spec.source.volumeHandle is set (%q), not spec.source.snapshotHandle", *s.Source.VolumeHandle))
	}
	if s.Source.VolumeHandle == nil {
		add("spec.source.snapshotHandle", handle, r.Handle)
	}
	add("spec.volumeSnapshotRef", s.VolumeSnapshotRef.Namespace+"/"+s.VolumeSnapshotRef.Name, r.SnapshotNamespace+"/"+r.SnapshotName)
	add("spec.driver", s.Driver, r.Driver)
	add("spec.deletionPolicy", string(s.DeletionPolicy), string(r.DeletionPolicy))
	add("spec.volumeSnapshotClassName", deref(s.VolumeSnapshotClassName), deref(r.Class))
	if uid := s.VolumeSnapshotRef.UID; uid != "" {
		diffs = append(diffs, fmt.Sprintf("it is bound to another VolumeSnapshot (spec.volumeSnapshotRef.uid %q)", uid))
	}
	if existing.DeletionTimestamp != nil {
		diffs = append(diffs, "it is being deleted")
	}
	return diffs
}

// contentConflict phrases contentDifferences for a denial.
func contentConflict(name string, diffs []string) string {
	return fmt.Sprintf("VolumeSnapshotContent %q already exists and does not match: %s", name, strings.Join(diffs, "; "))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
