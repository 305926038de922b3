package webhook

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/webhook/source"
)

func TestParseBackupRequest(t *testing.T) {
	t.Parallel()
	grammar := func(value string) string {
		_, err := restore.ParseReference(value)
		var he *restore.HandleError
		if !errors.As(err, &he) {
			t.Fatalf("ParseReference(%q) error = %v, want *restore.HandleError", value, err)
		}
		return he.Problem + "; expected " + he.Expected
	}
	tests := []struct {
		name         string
		annotations  map[string]string
		wantHandle   string
		wantPolicy   snapv1.DeletionPolicy
		wantErrs     []string
		wantWarnings []string
	}{
		{"bak handle", map[string]string{AnnotationBackup: "bak://vol-a/backup-1"}, "bak://vol-a/backup-1", snapv1.VolumeSnapshotContentRetain, nil, nil},
		{"volume/backup", map[string]string{AnnotationBackup: "vol-a/backup-1"}, "bak://vol-a/backup-1", snapv1.VolumeSnapshotContentRetain, nil, nil},
		{"legacy handle", map[string]string{AnnotationBackup: "bs://vol-a/backup-1"}, "bak://vol-a/backup-1", snapv1.VolumeSnapshotContentRetain, nil,
			[]string{"metadata.annotations[snaprestore.io/backup]: bs:// is deprecated; write bak://vol-a/backup-1"}},
		{"Delete policy", map[string]string{AnnotationBackup: "vol-a/backup-1", AnnotationDeletionPolicy: "Delete"}, "bak://vol-a/backup-1", snapv1.VolumeSnapshotContentDelete, nil, nil},
		{"explicit Retain", map[string]string{AnnotationBackup: "vol-a/backup-1", AnnotationDeletionPolicy: "Retain"}, "bak://vol-a/backup-1", snapv1.VolumeSnapshotContentRetain, nil, nil},
		{"unknown policy", map[string]string{AnnotationBackup: "vol-a/backup-1", AnnotationDeletionPolicy: "delete"}, "bak://vol-a/backup-1", "",
			[]string{`metadata.annotations[snaprestore.io/deletion-policy]: Unsupported value: "delete": supported values: "Retain", "Delete"`}, nil},
		{"missing backup name", map[string]string{AnnotationBackup: "bak://test-vol"}, "", snapv1.VolumeSnapshotContentRetain,
			[]string{`metadata.annotations[snaprestore.io/backup]: Invalid value: "bak://test-vol": ` + grammar("bak://test-vol")}, nil},
		{"empty", map[string]string{AnnotationBackup: ""}, "", snapv1.VolumeSnapshotContentRetain,
			[]string{`metadata.annotations[snaprestore.io/backup]: Invalid value: "": ` + grammar("")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			br, errs := parseBackupRequest(tt.annotations)
			var gotErrs []string
			for _, e := range errs {
				gotErrs = append(gotErrs, e.Error())
			}
			if diff := cmp.Diff(tt.wantErrs, gotErrs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if br.Handle != tt.wantHandle || br.DeletionPolicy != tt.wantPolicy {
				t.Errorf("handle, policy = %q, %q; want %q, %q", br.Handle, br.DeletionPolicy, tt.wantHandle, tt.wantPolicy)
			}
			if diff := cmp.Diff(tt.wantWarnings, br.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRaiseRequest(t *testing.T) {
	t.Parallel()
	ref := restore.Reference{Volume: "vol-a", Backup: "backup-1"}
	tests := []struct {
		name        string
		request     string // "" = no storage request
		size        int64
		wantRequest string
		wantWarning string
	}{
		{"smaller", "1Gi", 2 << 30, "2Gi", "spec.resources.requests[storage]: raised from 1Gi to 2Gi, the size of backup bak://vol-a/backup-1"},
		{"decimal smaller", "1G", 2 << 30, "2Gi", "spec.resources.requests[storage]: raised from 1G to 2Gi, the size of backup bak://vol-a/backup-1"},
		{"equal", "2Gi", 2 << 30, "2Gi", ""},
		{"larger", "5Gi", 2 << 30, "5Gi", ""},
		{"odd size", "1Mi", 1<<20 + 512, "1049088", "spec.resources.requests[storage]: raised from 1Mi to 1049088, the size of backup bak://vol-a/backup-1"},
		{"missing", "", 1 << 30, "1Gi", "spec.resources.requests[storage]: set to 1Gi, the size of backup bak://vol-a/backup-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pvc := &corev1.PersistentVolumeClaim{}
			if tt.request != "" {
				pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(tt.request)}
			}
			w := raiseRequest(pvc, tt.size, ref)
			got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
			if got.String() != tt.wantRequest || w != tt.wantWarning {
				t.Errorf("raiseRequest = %q, request %s; want %q, %s", w, got.String(), tt.wantWarning, tt.wantRequest)
			}
		})
	}
}

func TestSnapshotDifferences(t *testing.T) {
	t.Parallel()
	now := metav1.Now()
	snap := func(f func(*snapv1.VolumeSnapshot)) *snapv1.VolumeSnapshot {
		s := desiredSnapshot("ns", "data", "snaprestore-x")
		f(s)
		return s
	}
	tests := []struct {
		name string
		have *snapv1.VolumeSnapshot
		want []string
	}{
		{"same", snap(func(*snapv1.VolumeSnapshot) {}), nil},
		{"hand-written with the same source", snap(func(s *snapv1.VolumeSnapshot) { s.Labels, s.Annotations = nil, nil }), nil},
		{"other content", snap(func(s *snapv1.VolumeSnapshot) { s.Spec.Source.VolumeSnapshotContentName = ptr.To("other") }),
			[]string{`spec.source.volumeSnapshotContentName is "other", not "snaprestore-x"`}},
		{"PVC snapshot", snap(func(s *snapv1.VolumeSnapshot) {
			s.Spec.Source = snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To("pvc")}
		}), []string{`spec.source.persistentVolumeClaimName is "pvc"`}},
		{"deleting", snap(func(s *snapv1.VolumeSnapshot) { s.DeletionTimestamp = &now }), []string{"it is being deleted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, snapshotDifferences(tt.have, "snaprestore-x")); diff != "" {
				t.Errorf("snapshotDifferences (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIsOwnSnapshot: an annotated claim may already point at the VolumeSnapshot the
// webhook creates for it (a re-apply); any other data source conflicts with the backup.
// Before #12 a dataSourceRef naming a snapshot of the claim's name in another namespace
// counted as the claim's own (the namespace was not looked at); now it conflicts, as
// webhook/source resolves it to that other namespace.
func TestIsOwnSnapshot(t *testing.T) {
	t.Parallel()
	g := snapv1.GroupName
	other := "other"
	for _, c := range []struct {
		name string
		pvc  corev1.PersistentVolumeClaimSpec
		own  bool
	}{
		{"own snapshot", corev1.PersistentVolumeClaimSpec{DataSource: &corev1.TypedLocalObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "data"}}, true},
		{"own snapshot by dataSourceRef", corev1.PersistentVolumeClaimSpec{DataSourceRef: &corev1.TypedObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "data"}}, true},
		{"snapshot of another name", corev1.PersistentVolumeClaimSpec{DataSource: &corev1.TypedLocalObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "x"}}, false},
		{"snapshot without group", corev1.PersistentVolumeClaimSpec{DataSource: &corev1.TypedLocalObjectReference{Kind: "VolumeSnapshot", Name: "data"}}, false},
		{"a clone", corev1.PersistentVolumeClaimSpec{DataSource: &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "data"}}, false},
		{"same name in another namespace", corev1.PersistentVolumeClaimSpec{DataSourceRef: &corev1.TypedObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "data", Namespace: &other}}, false},
	} {
		pvc := &corev1.PersistentVolumeClaim{Spec: c.pvc}
		pvc.Name = "data" // namespace left empty, as in an admission request's object
		ds, ok := source.DataSource(pvc)
		if !ok {
			t.Fatalf("%s: no data source", c.name)
		}
		if got := isOwnSnapshot(ds, "data", "apps"); got != c.own {
			t.Errorf("%s: isOwnSnapshot = %v, want %v", c.name, got, c.own)
		}
	}
}
