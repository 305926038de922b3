package webhook

import (
	"context"
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/restore"
)

// countingBackups counts the backup pre-flight calls it forwards to fakeBackups.
type countingBackups struct{ calls *int }

func (c countingBackups) Facts(ctx context.Context, ref restore.Reference) BackupFacts {
	*c.calls++
	return fakeBackups{}.Facts(ctx, ref)
}

func TestVolumeSnapshotContentRules(t *testing.T) {
	t.Parallel()
	const (
		exactlyOne = `spec.source: Invalid value: exactly one of volumeHandle and snapshotHandle must be set`
		refFields  = `spec.volumeSnapshotRef: Invalid value: both spec.volumeSnapshotRef.name and spec.volumeSnapshotRef.namespace must be set`
		deleteWarn = `spec.deletionPolicy: Delete deletes backup bak://vol-a/backup-1 from the backupstore when the VolumeSnapshot is deleted; set Retain to keep the backup`
	)
	c := func(edit func(*snapv1.VolumeSnapshotContent)) *snapv1.VolumeSnapshotContent {
		return ruleContent("content-1", edit)
	}
	hostpath := func(v *snapv1.VolumeSnapshotContent) {
		v.Spec.Driver = "hostpath.csi.k8s.io"
		v.Spec.Source = snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To("this-handle")}
	}
	handle := func(h string) func(*snapv1.VolumeSnapshotContent) {
		return func(v *snapv1.VolumeSnapshotContent) { v.Spec.Source.SnapshotHandle = ptr.To(h) }
	}
	deletePolicy := func(v *snapv1.VolumeSnapshotContent) { v.Spec.DeletionPolicy = snapv1.VolumeSnapshotContentDelete }
	class := func(name string) func(*snapv1.VolumeSnapshotContent) {
		return func(v *snapv1.VolumeSnapshotContent) { v.Spec.VolumeSnapshotClassName = ptr.To(name) }
	}
	classes := map[string]*snapv1.VolumeSnapshotClass{
		"longhorn": {ObjectMeta: metav1.ObjectMeta{Name: "longhorn"}, Driver: DefaultLonghornDriver},
		"hostpath": {ObjectMeta: metav1.ObjectMeta{Name: "hostpath"}, Driver: "hostpath.csi.k8s.io"},
	}
	tests := []struct {
		name       string
		unknown    bool
		protect    bool
		content    *snapv1.VolumeSnapshotContent
		old        *snapv1.VolumeSnapshotContent
		want       ruleVerdict
		wantChecks int // backup pre-flight calls
	}{
		{name: "Longhorn backup", content: c(nil), wantChecks: 1},
		{name: "other driver, any handle", content: c(hostpath)},
		{name: "no source", content: c(func(v *snapv1.VolumeSnapshotContent) { v.Spec.Source = snapv1.VolumeSnapshotContentSource{} }),
			want: ruleVerdict{Causes: []string{exactlyOne}}},
		{name: "both handles", content: c(func(v *snapv1.VolumeSnapshotContent) { hostpath(v); v.Spec.Source.VolumeHandle = ptr.To("vol") }),
			want: ruleVerdict{Causes: []string{exactlyOne}}},
		{name: "ref without name", content: c(func(v *snapv1.VolumeSnapshotContent) { hostpath(v); v.Spec.VolumeSnapshotRef.Name = "" }),
			want: ruleVerdict{Causes: []string{refFields}}},
		{name: "ref without namespace", content: c(func(v *snapv1.VolumeSnapshotContent) { hostpath(v); v.Spec.VolumeSnapshotRef.Namespace = "" }),
			want: ruleVerdict{Causes: []string{refFields}}},
		{name: "Longhorn handle without backup name", content: c(handle("bak://test-vol")),
			want: ruleVerdict{Causes: []string{`spec.source.snapshotHandle: Invalid value: "bak://test-vol": ` + grammarMessage(t, "bak://test-vol")}}},
		{name: "Longhorn handle with an extra segment", content: c(handle("bak://vol-a/backup-1/x")),
			want: ruleVerdict{Causes: []string{`spec.source.snapshotHandle: Invalid value: "bak://vol-a/backup-1/x": ` + grammarMessage(t, "bak://vol-a/backup-1/x")}}},
		{name: "legacy bs handle", content: c(handle("bs://vol-a/backup-1")), wantChecks: 1,
			want: ruleVerdict{Warnings: []string{"spec.source.snapshotHandle: bs:// is deprecated; write bak://vol-a/backup-1"}}},
		{name: "Longhorn snapshot handle is not a backup: no pre-flight", content: c(handle("snap://vol-a/snap-1"))},
		{name: "backup missing from the backupstore", content: c(handle("bak://vol-a/backup-missing")), wantChecks: 1,
			want: ruleVerdict{Causes: []string{`spec.source.snapshotHandle: Invalid value: "bak://vol-a/backup-missing": backup "backup-missing" of volume "vol-a" does not exist in the backupstore`}}},
		{name: "backupstore unreachable", content: c(handle("bak://vol-a/backup-unreachable")), wantChecks: 1,
			want: ruleVerdict{Warnings: []string{"spec.source.snapshotHandle: the backupstore could not be reached, so bak://vol-a/backup-unreachable was not checked (connection refused)"}}},
		{name: "Delete on a backup warns", content: c(deletePolicy), wantChecks: 1, want: ruleVerdict{Warnings: []string{deleteWarn}}},
		{name: "Delete on a backup with --protect-backups", protect: true, content: c(deletePolicy), wantChecks: 1,
			want: ruleVerdict{Causes: []string{`spec.deletionPolicy: Invalid value: "Delete": deleting the VolumeSnapshot would delete backup bak://vol-a/backup-1 from the backupstore, and backups are protected (--protect-backups); expected Retain`}}},
		{name: "Delete on a Longhorn snapshot", protect: true, content: c(func(v *snapv1.VolumeSnapshotContent) { deletePolicy(v); handle("snap://vol-a/snap-1")(v) })},
		{name: "Delete on another driver's content", protect: true, content: c(func(v *snapv1.VolumeSnapshotContent) { hostpath(v); deletePolicy(v) })},
		{name: "update keeping Delete", protect: true, content: c(deletePolicy), old: c(deletePolicy)},
		{name: "update from Retain to Delete", content: c(deletePolicy), old: c(nil), want: ruleVerdict{Warnings: []string{deleteWarn}}},
		{name: "update keeping a handle that no longer parses", content: c(func(v *snapv1.VolumeSnapshotContent) {
			handle("bak://Vol/b")(v)
			v.Labels = map[string]string{"x": "y"}
		}), old: c(handle("bak://Vol/b"))},
		{name: "update changing the handle", content: c(handle("bak://vol-a/backup-2")), old: c(nil),
			want: ruleVerdict{Causes: []string{`spec.source.snapshotHandle: Invalid value: "bak://vol-a/backup-2": snapshotHandle is immutable`}}, wantChecks: 1},
		{name: "update from snapshotHandle to volumeHandle", content: c(func(v *snapv1.VolumeSnapshotContent) {
			v.Spec.Source = snapv1.VolumeSnapshotContentSource{VolumeHandle: ptr.To("vol-a")}
		}), old: c(nil), want: ruleVerdict{Causes: []string{`spec.source: Invalid value: snapshotHandle is required once set`}}},
		{name: "update from volumeHandle to snapshotHandle", content: c(hostpath), old: c(func(v *snapv1.VolumeSnapshotContent) {
			hostpath(v)
			v.Spec.Source = snapv1.VolumeSnapshotContentSource{VolumeHandle: ptr.To("vol-a")}
		}), want: ruleVerdict{Causes: []string{`spec.source: Invalid value: volumeHandle is required once set`}}},
		{name: "update changing the volumeHandle", content: c(func(v *snapv1.VolumeSnapshotContent) {
			hostpath(v)
			v.Spec.Source = snapv1.VolumeSnapshotContentSource{VolumeHandle: ptr.To("vol-b")}
		}), old: c(func(v *snapv1.VolumeSnapshotContent) {
			hostpath(v)
			v.Spec.Source = snapv1.VolumeSnapshotContentSource{VolumeHandle: ptr.To("vol-a")}
		}), want: ruleVerdict{Causes: []string{`spec.source.volumeHandle: Invalid value: "vol-b": volumeHandle is immutable`}}},
		{name: "update changing sourceVolumeMode", content: c(func(v *snapv1.VolumeSnapshotContent) {
			v.Spec.SourceVolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
		}),
			old:  c(func(v *snapv1.VolumeSnapshotContent) { v.Spec.SourceVolumeMode = ptr.To(corev1.PersistentVolumeBlock) }),
			want: ruleVerdict{Causes: []string{`spec.sourceVolumeMode: Invalid value: "Filesystem": sourceVolumeMode is immutable`}}},
		{name: "update dropping sourceVolumeMode", content: c(nil),
			old:  c(func(v *snapv1.VolumeSnapshotContent) { v.Spec.SourceVolumeMode = ptr.To(corev1.PersistentVolumeBlock) }),
			want: ruleVerdict{Causes: []string{`spec: Invalid value: sourceVolumeMode is required once set`}}},
		{name: "class of the same driver", content: c(class("longhorn")), wantChecks: 1},
		{name: "class of another driver", content: c(class("hostpath")), wantChecks: 1,
			want: ruleVerdict{Causes: []string{`spec.volumeSnapshotClassName: Invalid value: "hostpath": VolumeSnapshotClass "hostpath" is of driver "hostpath.csi.k8s.io", but this content's spec.driver is "driver.longhorn.io"; expected a class of driver "driver.longhorn.io"`}}},
		{name: "class that does not exist", content: c(class("gone")), wantChecks: 1,
			want: ruleVerdict{Causes: []string{`spec.volumeSnapshotClassName: Invalid value: "gone": VolumeSnapshotClass "gone" does not exist; expected the name of a VolumeSnapshotClass of driver "driver.longhorn.io"`}}},
		{name: "class unknown offline", unknown: true, content: c(class("gone")), wantChecks: 1,
			want: ruleVerdict{Warnings: []string{`spec.volumeSnapshotClassName: VolumeSnapshotClass "gone" could not be looked up; it must exist and be of driver "driver.longhorn.io"`}}},
		{name: "update keeping a class of another driver", content: c(class("hostpath")), old: c(class("hostpath"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checks := 0
			opts := HandlerOptions{ProtectBackups: tt.protect, Backups: countingBackups{&checks}}
			checkRule(t, factStore{unknown: tt.unknown, classes: classes}, opts, tt.content, tt.old, tt.want)
			if checks != tt.wantChecks {
				t.Errorf("%d backup pre-flight calls, want %d", checks, tt.wantChecks)
			}
		})
	}
}

// TestVolumeSnapshotContentLonghornDrivers: the grammar applies to the configured drivers only.
func TestVolumeSnapshotContentLonghornDrivers(t *testing.T) {
	t.Parallel()
	bad := ruleContent("content-1", func(v *snapv1.VolumeSnapshotContent) {
		v.Spec.Driver = "longhorn.example.com"
		v.Spec.Source.SnapshotHandle = ptr.To("bak://test-vol")
	})
	checkRule(t, factStore{}, HandlerOptions{}, bad, nil, ruleVerdict{})
	checkRule(t, factStore{}, HandlerOptions{LonghornDrivers: []string{"longhorn.example.com"}}, bad, nil, ruleVerdict{
		Causes: []string{`spec.source.snapshotHandle: Invalid value: "bak://test-vol": ` + grammarMessage(t, "bak://test-vol")},
	})
}
