package source

import (
	"context"
	"slices"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/snaprestore/snaprestore/restore"
)

// KindVolumeSnapshot is the data source kind of a claim restoring a snapshot.
const KindVolumeSnapshot = "VolumeSnapshot"

// Presence is what a lookup knows about an object: found, missing, or unknown (offline,
// where only the given files are known, or when the read failed).
type Presence int

// Presences; the zero value is Unknown so that a lookup that says nothing denies nothing.
const (
	Unknown Presence = iota
	Found
	Missing
)

func (p Presence) String() string {
	switch p {
	case Found:
		return "found"
	case Missing:
		return "missing"
	}
	return "unknown"
}

// Ref is a claim's data source.
type Ref struct {
	Path            *field.Path // spec.dataSource or spec.dataSourceRef
	APIGroup        *string
	Kind            string
	Namespace, Name string // Namespace: the claim's, or dataSourceRef.namespace when set
}

// GroupOK reports whether the data source names the snapshot API group; the API server
// drops a VolumeSnapshot source of another (or no) group before provisioning.
func (r Ref) GroupOK() bool { return r.APIGroup != nil && *r.APIGroup == snapv1.GroupName }

// IsSnapshot reports whether the data source is of kind VolumeSnapshot (any group).
func (r Ref) IsSnapshot() bool { return r.Kind == KindVolumeSnapshot }

// DataSource is the claim's data source of any kind: spec.dataSource when set, else
// spec.dataSourceRef (the API server keeps the two equal when both are set; only
// dataSourceRef may name another namespace, and that namespace is honoured).
func DataSource(pvc *corev1.PersistentVolumeClaim) (Ref, bool) {
	if ds := pvc.Spec.DataSource; ds != nil {
		return Ref{Path: field.NewPath("spec", "dataSource"), APIGroup: ds.APIGroup, Kind: ds.Kind, Namespace: pvc.Namespace, Name: ds.Name}, true
	}
	if dr := pvc.Spec.DataSourceRef; dr != nil {
		ns := pvc.Namespace
		if dr.Namespace != nil && *dr.Namespace != "" {
			ns = *dr.Namespace
		}
		return Ref{Path: field.NewPath("spec", "dataSourceRef"), APIGroup: dr.APIGroup, Kind: dr.Kind, Namespace: ns, Name: dr.Name}, true
	}
	return Ref{}, false
}

// Snapshot is the VolumeSnapshot the claim restores: its data source when that is of
// kind VolumeSnapshot. The group is not checked here (see Ref.GroupOK).
func Snapshot(pvc *corev1.PersistentVolumeClaim) (Ref, bool) {
	r, ok := DataSource(pvc)
	if !ok || !r.IsSnapshot() {
		return Ref{}, false
	}
	return r, true
}

// ContentName is the content a snapshot restores: the one it is bound to
// (status.boundVolumeSnapshotContentName), else the pre-provisioned one it names.
func ContentName(s *snapv1.VolumeSnapshot) string {
	if s.Status != nil && s.Status.BoundVolumeSnapshotContentName != nil && *s.Status.BoundVolumeSnapshotContentName != "" {
		return *s.Status.BoundVolumeSnapshotContentName
	}
	if n := s.Spec.Source.VolumeSnapshotContentName; n != nil {
		return *n
	}
	return ""
}

// Serves reports whether the content is (or will be) bound to the snapshot: its
// spec.volumeSnapshotRef names it.
func Serves(c *snapv1.VolumeSnapshotContent, s *snapv1.VolumeSnapshot) bool {
	ref := c.Spec.VolumeSnapshotRef
	return ref.Namespace == s.Namespace && ref.Name == s.Name
}

// SnapshotHandle is the content's handle: spec.source.snapshotHandle of a
// pre-provisioned content, else status.snapshotHandle of a dynamically created one.
func SnapshotHandle(c *snapv1.VolumeSnapshotContent) string {
	if h := c.Spec.Source.SnapshotHandle; h != nil && *h != "" {
		return *h
	}
	if c.Status != nil && c.Status.SnapshotHandle != nil {
		return *c.Status.SnapshotHandle
	}
	return ""
}

// Backup is the Longhorn backup the content restores: its driver is one of
// longhornDrivers and its handle is a bak:// (or bs://) handle.
func Backup(c *snapv1.VolumeSnapshotContent, longhornDrivers []string) (restore.Reference, bool) {
	if !slices.Contains(longhornDrivers, c.Spec.Driver) {
		return restore.Reference{}, false
	}
	h, err := restore.ParseHandle(SnapshotHandle(c))
	if err != nil || h.Kind != restore.KindBackup {
		return restore.Reference{}, false
	}
	return restore.Reference{Volume: h.Volume, Backup: h.Name, Legacy: h.Legacy}, true
}

// Lookup reads the objects of the chain; the webhook answers from its cache, the
// verifier from its client, snaprestore validate from the given files.
type Lookup interface {
	Snapshot(ctx context.Context, namespace, name string) (*snapv1.VolumeSnapshot, Presence)
	Content(ctx context.Context, name string) (*snapv1.VolumeSnapshotContent, Presence)
}

// Chain is what a restore PVC restores, as far as it could be followed.
type Chain struct {
	// Source is the claim's VolumeSnapshot data source (Restores false: none).
	Source   Ref
	Restores bool
	// Snapshot is set when SnapshotPresence is Found. It is not looked up when the
	// source's group is wrong.
	Snapshot         *snapv1.VolumeSnapshot
	SnapshotPresence Presence
	// Content is set when ContentPresence is Found: the content the snapshot restores,
	// and only when that content serves the snapshot (a content bound to another
	// snapshot is Unknown: the snapshot's own content is not known yet).
	Content         *snapv1.VolumeSnapshotContent
	ContentPresence Presence
	// Backup is the Longhorn backup the content restores (see Backup).
	Backup    restore.Reference
	HasBackup bool
}

// Resolve follows the claim's chain as far as the objects exist.
func Resolve(ctx context.Context, l Lookup, pvc *corev1.PersistentVolumeClaim, longhornDrivers []string) Chain {
	var ch Chain
	ch.Source, ch.Restores = Snapshot(pvc)
	if !ch.Restores || !ch.Source.GroupOK() {
		return ch
	}
	snap, p := l.Snapshot(ctx, ch.Source.Namespace, ch.Source.Name)
	if ch.SnapshotPresence = p; p != Found {
		return ch
	}
	ch.Snapshot = snap
	name := ContentName(snap)
	if name == "" {
		return ch
	}
	content, p := l.Content(ctx, name)
	if p == Found && !Serves(content, snap) {
		return ch
	}
	if ch.ContentPresence = p; p != Found {
		return ch
	}
	ch.Content = content
	ch.Backup, ch.HasBackup = Backup(content, longhornDrivers)
	return ch
}
