package webhook

import (
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestOrphaned(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	grace := 2 * time.Minute
	content := func(f func(c *snapv1.VolumeSnapshotContent)) *snapv1.VolumeSnapshotContent {
		c := desiredContent(contentRequest{
			Name: "snaprestore-x", SnapshotNamespace: "ns", SnapshotName: "snap", Handle: "bak://vol/b",
			Driver: "driver.longhorn.io", DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
		})
		c.CreationTimestamp = metav1.NewTime(created)
		f(c)
		return c
	}
	plain := func(*snapv1.VolumeSnapshotContent) {}
	deleting := metav1.NewTime(created)
	after := created.Add(grace)
	tests := []struct {
		name       string
		content    *snapv1.VolumeSnapshotContent
		claimed    bool
		now        time.Time
		wantOrphan bool
		wantReason string
	}{
		{"unclaimed after grace", content(plain), false, after, true, reasonOrphaned},
		{"unclaimed long after grace", content(plain), false, after.Add(time.Hour), true, reasonOrphaned},
		{"unclaimed within grace", content(plain), false, after.Add(-time.Nanosecond), false, reasonGrace},
		{"claimed", content(plain), true, after, false, reasonClaimed},
		{"delete policy", content(func(c *snapv1.VolumeSnapshotContent) { c.Spec.DeletionPolicy = snapv1.VolumeSnapshotContentDelete }), false, after, false, reasonDeletePolicy},
		{"bound to uid", content(func(c *snapv1.VolumeSnapshotContent) { c.Spec.VolumeSnapshotRef.UID = "u-1" }), false, after, false, reasonBound},
		{"being deleted", content(func(c *snapv1.VolumeSnapshotContent) { c.DeletionTimestamp = &deleting }), false, after, false, reasonDeleting},
		{"no label", content(func(c *snapv1.VolumeSnapshotContent) { delete(c.Labels, LabelManagedBy) }), false, after, false, reasonNotOurs},
		{"other manager", content(func(c *snapv1.VolumeSnapshotContent) { c.Labels[LabelManagedBy] = "helm" }), false, after, false, reasonNotOurs},
		{"no annotations", content(func(c *snapv1.VolumeSnapshotContent) { c.Annotations = nil }), false, after, false, reasonNotOurs},
		{"annotations name another snapshot", content(func(c *snapv1.VolumeSnapshotContent) { c.Spec.VolumeSnapshotRef.Name = "other" }), false, after, false, reasonNotOurs},
		{"volume handle", content(func(c *snapv1.VolumeSnapshotContent) {
			c.Spec.Source = snapv1.VolumeSnapshotContentSource{VolumeHandle: ptr.To("pv")}
		}), false, after, false, reasonNotOurs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			orphan, reason := orphaned(tt.content, tt.claimed, tt.now, grace)
			if orphan != tt.wantOrphan || reason != tt.wantReason {
				t.Errorf("orphaned = (%v, %q), want (%v, %q)", orphan, reason, tt.wantOrphan, tt.wantReason)
			}
		})
	}
}

func TestClaims(t *testing.T) {
	t.Parallel()
	c := &snapv1.VolumeSnapshotContent{ObjectMeta: metav1.ObjectMeta{Name: "snaprestore-x"}}
	snap := func(content *string) *snapv1.VolumeSnapshot {
		return &snapv1.VolumeSnapshot{Spec: snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: content}}}
	}
	for _, tt := range []struct {
		name string
		snap *snapv1.VolumeSnapshot
		want bool
	}{
		{"missing snapshot", nil, false},
		{"names the content", snap(ptr.To("snaprestore-x")), true},
		{"names another content", snap(ptr.To("other")), false},
		{"takes a PVC snapshot", snap(nil), false},
	} {
		if got := claims(tt.snap, c); got != tt.want {
			t.Errorf("%s: claims = %v, want %v", tt.name, got, tt.want)
		}
	}
}
