package webhook

import (
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func ruleSnapshot(edit func(*snapv1.VolumeSnapshot)) *snapv1.VolumeSnapshot {
	s := &snapv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "restore-1", UID: "uid-new"},
		Spec:       snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: ptr.To("content-1")}},
	}
	if edit != nil {
		edit(s)
	}
	return s
}

func ruleContent(name string, edit func(*snapv1.VolumeSnapshotContent)) *snapv1.VolumeSnapshotContent {
	c := &snapv1.VolumeSnapshotContent{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: snapv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef: corev1.ObjectReference{Namespace: "apps", Name: "restore-1"},
			DeletionPolicy:    snapv1.VolumeSnapshotContentRetain,
			Driver:            DefaultLonghornDriver,
			Source:            snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To("bak://vol-a/backup-1")},
		},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestVolumeSnapshotRules(t *testing.T) {
	t.Parallel()
	const (
		exactlyOne = `spec.source: Invalid value: exactly one of volumeSnapshotContentName and persistentVolumeClaimName must be set`
		emptyClass = `spec.volumeSnapshotClassName: Invalid value: "": volumeSnapshotClassName must not be the empty string when set`
	)
	pvcSource := func(s *snapv1.VolumeSnapshot) {
		s.Spec.Source = snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To("data")}
	}
	contents := map[string]*snapv1.VolumeSnapshotContent{
		"content-1": ruleContent("content-1", nil),
		"elsewhere": ruleContent("elsewhere", func(c *snapv1.VolumeSnapshotContent) {
			c.Spec.VolumeSnapshotRef = corev1.ObjectReference{Namespace: "other", Name: "snap-x"}
		}),
		"bound-before": ruleContent("bound-before", func(c *snapv1.VolumeSnapshotContent) {
			c.Spec.VolumeSnapshotRef.UID = types.UID("uid-old")
		}),
		"bound-here": ruleContent("bound-here", func(c *snapv1.VolumeSnapshotContent) {
			c.Spec.VolumeSnapshotRef.UID = types.UID("uid-new")
		}),
	}
	tests := []struct {
		name     string
		unknown  bool // lookups answer Unknown (offline) instead of Missing
		snap     *snapv1.VolumeSnapshot
		old      *snapv1.VolumeSnapshot
		want     ruleVerdict
		wantRead int // lookups made
	}{
		{name: "pre-provisioned content naming this snapshot", snap: ruleSnapshot(nil), wantRead: 1},
		{name: "dynamic from a PVC", snap: ruleSnapshot(pvcSource)},
		{name: "no source", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source = snapv1.VolumeSnapshotSource{} }),
			want: ruleVerdict{Causes: []string{exactlyOne}}},
		{name: "both sources", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.PersistentVolumeClaimName = ptr.To("data") }),
			want: ruleVerdict{Causes: []string{exactlyOne}}},
		{name: "empty class name", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { pvcSource(s); s.Spec.VolumeSnapshotClassName = ptr.To("") }),
			want: ruleVerdict{Causes: []string{emptyClass}}},
		{name: "class name set", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { pvcSource(s); s.Spec.VolumeSnapshotClassName = ptr.To("longhorn") })},
		{name: "content names another snapshot", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("elsewhere") }),
			wantRead: 1,
			want:     ruleVerdict{Causes: []string{`spec.source.volumeSnapshotContentName: Invalid value: "elsewhere": VolumeSnapshotContent "elsewhere" has spec.volumeSnapshotRef other/snap-x, but this VolumeSnapshot is apps/restore-1, so the two never bind; expected a content whose spec.volumeSnapshotRef is namespace "apps", name "restore-1"`}}},
		{name: "content bound to an earlier snapshot of the same name", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("bound-before") }),
			wantRead: 1,
			want:     ruleVerdict{Causes: []string{`spec.source.volumeSnapshotContentName: Invalid value: "bound-before": VolumeSnapshotContent "bound-before" is bound to another VolumeSnapshot apps/restore-1 (spec.volumeSnapshotRef.uid "uid-old"), so it never binds to this one; expected a content that is not bound yet, e.g. a new VolumeSnapshotContent with the same snapshotHandle`}}},
		{name: "content bound to this snapshot", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("bound-here") }), wantRead: 1},
		{name: "content not created yet", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("later") }),
			wantRead: 1,
			want:     ruleVerdict{Warnings: []string{`spec.source.volumeSnapshotContentName: VolumeSnapshotContent "later" does not exist yet; the snapshot stays unbound until it is created with spec.volumeSnapshotRef apps/restore-1`}}},
		{name: "content unknown offline", unknown: true, snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("later") }),
			wantRead: 1,
			want:     ruleVerdict{Warnings: []string{`spec.source.volumeSnapshotContentName: VolumeSnapshotContent "later" could not be looked up; its spec.volumeSnapshotRef must be apps/restore-1 for the snapshot to bind`}}},
		{name: "update: content name changed", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("elsewhere") }), old: ruleSnapshot(nil),
			want: ruleVerdict{Causes: []string{`spec.source.volumeSnapshotContentName: Invalid value: "elsewhere": volumeSnapshotContentName is immutable`}}},
		{name: "update: content name dropped for a PVC", snap: ruleSnapshot(pvcSource), old: ruleSnapshot(nil),
			want: ruleVerdict{Causes: []string{`spec.source: Invalid value: volumeSnapshotContentName is required once set`}}},
		{name: "update: PVC name changed", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) {
			s.Spec.Source.PersistentVolumeClaimName = ptr.To("other")
			s.Spec.Source.VolumeSnapshotContentName = nil
		}),
			old:  ruleSnapshot(pvcSource),
			want: ruleVerdict{Causes: []string{`spec.source.persistentVolumeClaimName: Invalid value: "other": persistentVolumeClaimName is immutable`}}},
		{name: "update: PVC name dropped for a content", snap: ruleSnapshot(nil), old: ruleSnapshot(pvcSource),
			want: ruleVerdict{Causes: []string{`spec.source: Invalid value: persistentVolumeClaimName is required once set`}}},
		{name: "update keeping a content that names another snapshot is not judged again", old: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("elsewhere") }),
			snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) {
				s.Spec.Source.VolumeSnapshotContentName = ptr.To("elsewhere")
				s.Labels = map[string]string{"team": "a"}
			})},
		{name: "update keeping an empty class name", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.VolumeSnapshotClassName = ptr.To("") }),
			old: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.VolumeSnapshotClassName = ptr.To("") })},
		{name: "update setting an empty class name", snap: ruleSnapshot(func(s *snapv1.VolumeSnapshot) { s.Spec.VolumeSnapshotClassName = ptr.To("") }),
			old: ruleSnapshot(nil), want: ruleVerdict{Causes: []string{emptyClass}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reads := 0
			objs := factStore{unknown: tt.unknown, contents: contents, lookups: &reads}
			checkRule(t, objs, HandlerOptions{}, tt.snap, tt.old, tt.want) // a nil *VolumeSnapshot is a CREATE
			if reads != tt.wantRead {
				t.Errorf("%d lookups, want %d", reads, tt.wantRead)
			}
		})
	}
}
