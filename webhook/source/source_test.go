package source

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/restore"
)

// objects is a Lookup over fixed objects; anything else is Missing.
type objects struct {
	snapshots []*snapv1.VolumeSnapshot
	contents  []*snapv1.VolumeSnapshotContent
}

func (o objects) Snapshot(_ context.Context, namespace, name string) (*snapv1.VolumeSnapshot, Presence) {
	for _, s := range o.snapshots {
		if s.Namespace == namespace && s.Name == name {
			return s, Found
		}
	}
	return nil, Missing
}

func (o objects) Content(_ context.Context, name string) (*snapv1.VolumeSnapshotContent, Presence) {
	for _, c := range o.contents {
		if c.Name == name {
			return c, Found
		}
	}
	return nil, Missing
}

const longhorn = "driver.longhorn.io"

func snapshot(ns, name string, edit func(*snapv1.VolumeSnapshot)) *snapv1.VolumeSnapshot {
	s := &snapv1.VolumeSnapshot{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: ptr.To("c-" + name)}}}
	if edit != nil {
		edit(s)
	}
	return s
}

func content(name, ns, snap, driver string, edit func(*snapv1.VolumeSnapshotContent)) *snapv1.VolumeSnapshotContent {
	c := &snapv1.VolumeSnapshotContent{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: snapv1.VolumeSnapshotContentSpec{
		Driver: driver, VolumeSnapshotRef: corev1.ObjectReference{Namespace: ns, Name: snap},
		Source: snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To("bak://vol-a/backup-" + name)}}}
	if edit != nil {
		edit(c)
	}
	return c
}

func claim(edit func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	g := snapv1.GroupName
	p := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
		DataSource:    &corev1.TypedLocalObjectReference{APIGroup: &g, Kind: KindVolumeSnapshot, Name: "s"},
		DataSourceRef: &corev1.TypedObjectReference{APIGroup: &g, Kind: KindVolumeSnapshot, Name: "s"},
	}}
	if edit != nil {
		edit(p)
	}
	return p
}

// result is the comparable summary of a Chain.
type result struct {
	Restores         bool
	Path, Namespace  string
	SnapshotPresence Presence
	Content          string
	ContentPresence  Presence
	Backup           string
}

func summarize(ch Chain) result {
	r := result{Restores: ch.Restores, SnapshotPresence: ch.SnapshotPresence, ContentPresence: ch.ContentPresence}
	if ch.Restores {
		r.Path, r.Namespace = ch.Source.Path.String(), ch.Source.Namespace
	}
	if ch.Content != nil {
		r.Content = ch.Content.Name
	}
	if ch.HasBackup {
		r.Backup = ch.Backup.Handle()
	}
	return r
}

// TestResolve pins the one rule set for a restore PVC's source. Where pvc.go, verify.go
// and mutate_pvc.go disagreed before #12, the case names the rule that won.
func TestResolve(t *testing.T) {
	t.Parallel()
	objs := objects{
		snapshots: []*snapv1.VolumeSnapshot{
			snapshot("apps", "s", nil),
			snapshot("other", "s", func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("c-other") }),
			snapshot("apps", "bound", func(s *snapv1.VolumeSnapshot) {
				s.Spec.Source.VolumeSnapshotContentName = nil
				s.Spec.Source.PersistentVolumeClaimName = ptr.To("orig")
				s.Status = &snapv1.VolumeSnapshotStatus{BoundVolumeSnapshotContentName: ptr.To("c-dynamic")}
			}),
			snapshot("apps", "stolen", nil),
			snapshot("apps", "foreign", nil),
			snapshot("apps", "unbound", func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = nil }),
		},
		contents: []*snapv1.VolumeSnapshotContent{
			content("c-s", "apps", "s", longhorn, nil),
			content("c-other", "other", "s", longhorn, nil),
			content("c-dynamic", "apps", "bound", longhorn, func(c *snapv1.VolumeSnapshotContent) {
				c.Spec.Source = snapv1.VolumeSnapshotContentSource{VolumeHandle: ptr.To("vol-a")}
				c.Status = &snapv1.VolumeSnapshotContentStatus{SnapshotHandle: ptr.To("bak://vol-a/backup-dynamic")}
			}),
			content("c-stolen", "apps", "someone-else", longhorn, nil),
			content("c-foreign", "apps", "foreign", "csi.example.com", nil),
		},
	}
	to := func(name string) func(*corev1.PersistentVolumeClaim) {
		return func(p *corev1.PersistentVolumeClaim) { p.Spec.DataSource.Name, p.Spec.DataSourceRef.Name = name, name }
	}
	cases := []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		want result
	}{
		{"pre-provisioned backup", claim(nil), result{Restores: true, Path: "spec.dataSource", Namespace: "apps",
			SnapshotPresence: Found, Content: "c-s", ContentPresence: Found, Backup: "bak://vol-a/backup-c-s"}},
		{"no data source", claim(func(p *corev1.PersistentVolumeClaim) { p.Spec.DataSource, p.Spec.DataSourceRef = nil, nil }), result{}},
		{"a clone is not a restore", claim(func(p *corev1.PersistentVolumeClaim) {
			p.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "orig"}
			p.Spec.DataSourceRef = nil
		}), result{}},
		// verify.go ignored a snapshot of another group silently; pvc.go denied it. Now:
		// it restores a snapshot (the rules deny the group), nothing is looked up.
		{"wrong group: a restore, not followed", claim(func(p *corev1.PersistentVolumeClaim) { p.Spec.DataSource.APIGroup = ptr.To("example.com") }),
			result{Restores: true, Path: "spec.dataSource", Namespace: "apps"}},
		// pvc.go honoured dataSourceRef.namespace; verify.go skipped such claims. pvc.go won:
		// the snapshot restored is the one in that namespace.
		{"cross-namespace dataSourceRef follows its namespace", claim(func(p *corev1.PersistentVolumeClaim) {
			p.Spec.DataSource = nil
			p.Spec.DataSourceRef.Namespace = ptr.To("other")
		}), result{Restores: true, Path: "spec.dataSourceRef", Namespace: "other",
			SnapshotPresence: Found, Content: "c-other", ContentPresence: Found, Backup: "bak://vol-a/backup-c-other"}},
		// pvc.go read status.boundVolumeSnapshotContentName first, verify.go the spec first;
		// the binding won. verify.go also read status.snapshotHandle of a dynamic content,
		// pvc.go did not; verify.go won.
		{"bound dynamic snapshot: status names content and handle", claim(to("bound")), result{Restores: true, Path: "spec.dataSource", Namespace: "apps",
			SnapshotPresence: Found, Content: "c-dynamic", ContentPresence: Found, Backup: "bak://vol-a/backup-dynamic"}},
		// verify.go used a content whatever its volumeSnapshotRef; pvc.go only one serving
		// the snapshot. pvc.go won.
		{"content of another snapshot is not followed", claim(to("stolen")), result{Restores: true, Path: "spec.dataSource", Namespace: "apps",
			SnapshotPresence: Found}},
		// verify.go verified any bak:// handle; pvc.go only a Longhorn driver's. pvc.go won.
		{"bak:// handle of another driver is no backup", claim(to("foreign")), result{Restores: true, Path: "spec.dataSource", Namespace: "apps",
			SnapshotPresence: Found, Content: "c-foreign", ContentPresence: Found}},
		{"snapshot missing", claim(to("nope")), result{Restores: true, Path: "spec.dataSource", Namespace: "apps", SnapshotPresence: Missing}},
		{"snapshot names no content yet", claim(to("unbound")), result{Restores: true, Path: "spec.dataSource", Namespace: "apps", SnapshotPresence: Found}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := summarize(Resolve(context.Background(), objs, c.pvc, []string{longhorn}))
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackupLegacyHandle(t *testing.T) {
	t.Parallel()
	c := content("c", "apps", "s", longhorn, func(c *snapv1.VolumeSnapshotContent) { c.Spec.Source.SnapshotHandle = ptr.To("bs://vol-a/backup-1") })
	got, ok := Backup(c, []string{longhorn})
	if want := (restore.Reference{Volume: "vol-a", Backup: "backup-1", Legacy: true}); !ok || got != want {
		t.Errorf("Backup(bs:// content) = %+v, %v; want %+v, true", got, ok, want)
	}
	for _, h := range []string{"snap://vol-a/snap-1", "bak://vol-a", ""} {
		c.Spec.Source.SnapshotHandle = &h
		if got, ok := Backup(c, []string{longhorn}); ok {
			t.Errorf("Backup(handle %q) = %+v; want no backup", h, got)
		}
	}
}
