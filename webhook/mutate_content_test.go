package webhook

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

func TestContentName(t *testing.T) {
	t.Parallel()
	a := contentName("default", "snap", "bak://vol/backup-1")
	if got := contentName("default", "snap", "bak://vol/backup-1"); got != a {
		t.Fatalf("contentName is not deterministic: %q then %q", a, got)
	}
	if !strings.HasPrefix(a, "snaprestore-") || len(a) != len("snaprestore-")+20 {
		t.Errorf("contentName = %q, want snaprestore- and 20 hex digits", a)
	}
	if errs := validation.IsDNS1123Subdomain(a); len(errs) > 0 {
		t.Errorf("contentName %q is not a valid object name: %v", a, errs)
	}
	for _, other := range [][3]string{
		{"other", "snap", "bak://vol/backup-1"},
		{"default", "snap2", "bak://vol/backup-1"},
		{"default", "snap", "bak://vol/backup-2"},
		{"defaults", "nap", "bak://vol/backup-1"}, // the separator matters
	} {
		if got := contentName(other[0], other[1], other[2]); got == a {
			t.Errorf("contentName%v = %q, same as for default/snap/bak://vol/backup-1", other, got)
		}
	}
}

func TestDesiredContent(t *testing.T) {
	t.Parallel()
	class := "longhorn"
	got := desiredContent(contentRequest{
		Name: "snaprestore-x", SnapshotNamespace: "ns", SnapshotName: "snap", Handle: "bak://vol/b",
		Driver: "driver.longhorn.io", Class: &class, DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
	})
	handle := "bak://vol/b"
	want := &snapv1.VolumeSnapshotContent{
		TypeMeta: metav1.TypeMeta{APIVersion: "snapshot.storage.k8s.io/v1", Kind: "VolumeSnapshotContent"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        "snaprestore-x",
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "snaprestore"},
			Annotations: map[string]string{"snaprestore.io/snapshot-namespace": "ns", "snaprestore.io/snapshot-name": "snap"},
		},
		Spec: snapv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef:       corev1.ObjectReference{Namespace: "ns", Name: "snap"},
			DeletionPolicy:          snapv1.VolumeSnapshotContentRetain,
			Driver:                  "driver.longhorn.io",
			VolumeSnapshotClassName: &class,
			Source:                  snapv1.VolumeSnapshotContentSource{SnapshotHandle: &handle},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("desiredContent (-want +got):\n%s", diff)
	}
	if !createdBySnaprestore(got) {
		t.Errorf("createdBySnaprestore(desiredContent(...)) = false; the GC would never collect it")
	}
}

func TestContentDifferences(t *testing.T) {
	t.Parallel()
	class := "longhorn"
	req := contentRequest{
		Name: "c", SnapshotNamespace: "ns", SnapshotName: "snap", Handle: "bak://vol/b",
		Driver: "driver.longhorn.io", Class: &class, DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
	}
	canonical := func(s string) string { return strings.Replace(s, "bs://", "bak://", 1) }
	edit := func(f func(c *snapv1.VolumeSnapshotContent)) *snapv1.VolumeSnapshotContent {
		c := desiredContent(req)
		c.Labels, c.Annotations = nil, nil // a hand-written content: marks do not matter
		f(c)
		return c
	}
	now := metav1.Now()
	tests := []struct {
		name     string
		existing *snapv1.VolumeSnapshotContent
		want     []string
	}{
		{"identical", edit(func(*snapv1.VolumeSnapshotContent) {}), nil},
		{"legacy handle", edit(func(c *snapv1.VolumeSnapshotContent) { c.Spec.Source.SnapshotHandle = ptr.To("bs://vol/b") }), nil},
		{"other backup", edit(func(c *snapv1.VolumeSnapshotContent) { c.Spec.Source.SnapshotHandle = ptr.To("bak://vol/c") }),
			[]string{`spec.source.snapshotHandle is "bak://vol/c", not "bak://vol/b"`}},
		{"volume handle", edit(func(c *snapv1.VolumeSnapshotContent) {
			c.Spec.Source = snapv1.VolumeSnapshotContentSource{VolumeHandle: ptr.To("pv-1")}
		}), []string{`spec.source.volumeHandle is set ("pv-1"), not spec.source.snapshotHandle`}},
		{"other snapshot", edit(func(c *snapv1.VolumeSnapshotContent) { c.Spec.VolumeSnapshotRef.Name = "other" }),
			[]string{`spec.volumeSnapshotRef is "ns/other", not "ns/snap"`}},
		{"driver, policy and class", edit(func(c *snapv1.VolumeSnapshotContent) {
			c.Spec.Driver, c.Spec.DeletionPolicy, c.Spec.VolumeSnapshotClassName = "x.csi", snapv1.VolumeSnapshotContentDelete, nil
		}), []string{
			`spec.driver is "x.csi", not "driver.longhorn.io"`,
			`spec.deletionPolicy is "Delete", not "Retain"`,
			`spec.volumeSnapshotClassName is "", not "longhorn"`,
		}},
		{"bound", edit(func(c *snapv1.VolumeSnapshotContent) { c.Spec.VolumeSnapshotRef.UID = "u-1" }),
			[]string{`it is bound to another VolumeSnapshot (spec.volumeSnapshotRef.uid "u-1")`}},
		{"deleting", edit(func(c *snapv1.VolumeSnapshotContent) { c.DeletionTimestamp = &now }),
			[]string{"it is being deleted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := contentDifferences(tt.existing, req, canonical)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("contentDifferences (-want +got):\n%s", diff)
			}
		})
	}
	if got, want := contentConflict("c", []string{"a", "b"}), `VolumeSnapshotContent "c" already exists and does not match: a; b`; got != want {
		t.Errorf("contentConflict = %q, want %q", got, want)
	}
}
