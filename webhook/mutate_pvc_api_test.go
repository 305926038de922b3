package webhook

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// apiGroupMessage is validatePVCSnapshotGroup's explanation after the field path.
const apiGroupMessage = `kind VolumeSnapshot is in API group "snapshot.storage.k8s.io", and the API server drops a data source of another group, leaving an empty volume; expected apiGroup: snapshot.storage.k8s.io`

func testPVCMutation(t *testing.T, e *mutateEnv) {
	t.Parallel()
	testPVCMutationCreates(t, e)
	testPVCMutationChecks(t, e)
	testPVCMutationSources(t, e)
}

func testPVCMutationCreates(t *testing.T, e *mutateEnv) {
	ctx := context.Background()
	ns := createNamespace(t, e, "pvcs")

	t.Run("creates snapshot, content and dataSource", func(t *testing.T) {
		t.Parallel()
		c, warnings := e.warningClient(t)
		pvc := annotatedPVC(ns, "data", "vol-a/backup-1", "1Gi")
		if err := c.Create(ctx, pvc); err != nil {
			t.Fatalf("create: %v", err)
		}
		expectRestoreOf(t, pvc, "data", "1Gi") // backup size unknown: request kept
		if w := warnings.take(); len(w) != 0 {
			t.Errorf("warnings = %q, want none", w)
		}
		name := contentName(ns, "data", "bak://vol-a/backup-1")
		snap := getOrFail(t, e.client, ns, "data", &snapv1.VolumeSnapshot{})
		wantSnap := snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: &name}}
		if diff := cmp.Diff(wantSnap, snap.Spec); diff != "" {
			t.Errorf("snapshot spec (-want +got):\n%s", diff)
		}
		wantMeta := []map[string]string{{LabelManagedBy: ManagedByValue}, {AnnotationPersistentVolumeClaim: "data"}}
		if diff := cmp.Diff(wantMeta, []map[string]string{snap.Labels, snap.Annotations}); diff != "" {
			t.Errorf("snapshot labels, annotations (-want +got):\n%s", diff)
		}
		content := getOrFail(t, e.client, "", name, &snapv1.VolumeSnapshotContent{})
		want := wantContentView(ns, "data", "bak://vol-a/backup-1", "driver.longhorn.io", nil, snapv1.VolumeSnapshotContentRetain)
		if diff := cmp.Diff(want, viewContent(content)); diff != "" {
			t.Errorf("content (-want +got):\n%s", diff)
		}

		// Re-apply without the fields the webhook set: the spec does not change. (The
		// resourceVersion may: the API server records the first update in managedFields.)
		before := pvc.Spec.DeepCopy()
		pvc.Spec.DataSource, pvc.Spec.DataSourceRef = nil, nil
		if err := c.Update(ctx, pvc); err != nil {
			t.Fatalf("update: %v", err)
		}
		if diff := cmp.Diff(before, &pvc.Spec); diff != "" {
			t.Errorf("spec after update (-before +after):\n%s", diff)
		}
	})

	t.Run("raises the request to the backup size", func(t *testing.T) {
		t.Parallel()
		c, warnings := e.warningClient(t)
		pvc := annotatedPVC(ns, "big", "bak://vol-a/backup-big", "1Gi")
		if err := c.Create(ctx, pvc); err != nil {
			t.Fatalf("create: %v", err)
		}
		if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "3Gi" {
			t.Errorf("storage request = %s, want 3Gi", got.String())
		}
		want := []string{"spec.resources.requests[storage]: raised from 1Gi to 3Gi, the size of backup bak://vol-a/backup-big"}
		if diff := cmp.Diff(want, warnings.take()); diff != "" {
			t.Errorf("warnings (-want +got):\n%s", diff)
		}
		// kubectl apply sends the manifest's 1Gi back; the request stays at the backup size.
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
		if err := c.Update(ctx, pvc); err != nil {
			t.Fatalf("update: %v", err)
		}
		if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "3Gi" {
			t.Errorf("after update: request %s, want 3Gi", got.String())
		}
	})

}

func testPVCMutationChecks(t *testing.T, e *mutateEnv) {
	ctx := context.Background()
	ns := createNamespace(t, e, "pvcs")

	t.Run("request at least the backup size is kept", func(t *testing.T) {
		t.Parallel()
		c, warnings := e.warningClient(t)
		pvc := annotatedPVC(ns, "bigger", "vol-a/backup-big", "4Gi")
		if err := c.Create(ctx, pvc); err != nil {
			t.Fatalf("create: %v", err)
		}
		if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "4Gi" {
			t.Errorf("storage request = %s, want 4Gi", got.String())
		}
		if w := warnings.take(); len(w) != 0 {
			t.Errorf("warnings = %q, want none", w)
		}
	})

	t.Run("pre-flight warning is passed on", func(t *testing.T) {
		t.Parallel()
		c, warnings := e.warningClient(t)
		if err := c.Create(ctx, annotatedPVC(ns, "unchecked", "vol-a/backup-unreachable", "1Gi")); err != nil {
			t.Fatalf("create: %v", err)
		}
		want := []string{"metadata.annotations[snaprestore.io/backup]: the backupstore could not be reached, so vol-a/backup-unreachable was not checked (connection refused)"}
		if diff := cmp.Diff(want, warnings.take()); diff != "" {
			t.Errorf("warnings (-want +got):\n%s", diff)
		}
	})

	t.Run("missing backup is denied, nothing created", func(t *testing.T) {
		t.Parallel()
		err := e.client.Create(ctx, annotatedPVC(ns, "missing", "vol-a/backup-missing", "1Gi"))
		want := `admission webhook "persistentvolumeclaims.mutate.snaprestore.io" denied the request: ` +
			`PersistentVolumeClaim "missing" is invalid: metadata.annotations[snaprestore.io/backup]: Invalid value: "vol-a/backup-missing": backup "backup-missing" of volume "vol-a" does not exist in the backupstore`
		if err == nil || err.Error() != want {
			t.Errorf("create: err = %v\nwant %s", err, want)
		}
		expectNotFound(t, e.client, ns, "missing", &snapv1.VolumeSnapshot{})
		expectNotFound(t, e.client, "", contentName(ns, "missing", "bak://vol-a/backup-missing"), &snapv1.VolumeSnapshotContent{})
	})

	t.Run("dry run creates nothing", func(t *testing.T) {
		t.Parallel()
		pvc := annotatedPVC(ns, "dry", "vol-a/backup-1", "1Gi")
		if err := e.client.Create(ctx, pvc, &clientDryRun); err != nil {
			t.Fatalf("dry-run create: %v", err)
		}
		if pvc.Spec.DataSource == nil || pvc.Spec.DataSource.Name != "dry" {
			t.Errorf("dry run: spec.dataSource = %v, want the snapshot dry", pvc.Spec.DataSource)
		}
		expectNotFound(t, e.client, ns, "dry", &snapv1.VolumeSnapshot{})
		expectNotFound(t, e.client, "", contentName(ns, "dry", "bak://vol-a/backup-1"), &snapv1.VolumeSnapshotContent{})
		expectNotFound(t, e.client, ns, "dry", &corev1.PersistentVolumeClaim{})
	})

	t.Run("snapshot with the PVC's name that differs is denied", func(t *testing.T) {
		t.Parallel()
		if err := e.client.Create(ctx, &snapv1.VolumeSnapshot{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
			Spec:       snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To("elsewhere")}},
		}); err != nil {
			t.Fatalf("create snapshot: %v", err)
		}
		err := e.client.Create(ctx, annotatedPVC(ns, "taken", "vol-a/backup-1", "1Gi"))
		want := `admission webhook "persistentvolumeclaims.mutate.snaprestore.io" denied the request: ` +
			`PersistentVolumeClaim "taken" is invalid: metadata.annotations[snaprestore.io/backup]: Forbidden: ` +
			`VolumeSnapshot "taken" already exists and does not match: spec.source.persistentVolumeClaimName is "elsewhere"; rename the PVC or delete that snapshot`
		if err == nil || err.Error() != want {
			t.Errorf("create: err = %v\nwant %s", err, want)
		}
	})

	// The API server drops a VolumeSnapshot data source of another (or no) apiGroup after
	// mutating admission and would provision an empty volume; the mutating webhook denies.
}

func testPVCMutationSources(t *testing.T, e *mutateEnv) {
	ctx := context.Background()
	ns := createNamespace(t, e, "pvcs")
	group := snapv1.GroupName

	for _, tc := range []struct {
		name, want string
		group      *string
		ref        bool // set spec.dataSourceRef instead of spec.dataSource
	}{
		{"nogroup", `spec.dataSource.apiGroup: Required value: ` + apiGroupMessage, nil, false},
		{"wronggroup", `spec.dataSource.apiGroup: Invalid value: "snapshot.storage.k8s.io/v1": ` + apiGroupMessage, ptr.To("snapshot.storage.k8s.io/v1"), false},
		{"wronggroup-ref", `spec.dataSourceRef.apiGroup: Invalid value: "storage.k8s.io": ` + apiGroupMessage, ptr.To("storage.k8s.io"), true},
	} {
		t.Run("VolumeSnapshot data source, apiGroup "+tc.name, func(t *testing.T) {
			t.Parallel()
			pvc := annotatedPVC(ns, tc.name, "", "1Gi")
			pvc.Annotations = nil
			if tc.ref {
				pvc.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: tc.group, Kind: "VolumeSnapshot", Name: "snap"}
			} else {
				pvc.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: tc.group, Kind: "VolumeSnapshot", Name: "snap"}
			}
			err := e.client.Create(ctx, pvc)
			want := `admission webhook "persistentvolumeclaims.mutate.snaprestore.io" denied the request: ` +
				`PersistentVolumeClaim "` + tc.name + `" is invalid: ` + tc.want
			if err == nil || err.Error() != want {
				t.Errorf("create: err = %v\nwant %s", err, want)
			}
			expectNotFound(t, e.client, ns, tc.name, &corev1.PersistentVolumeClaim{})
		})
	}

	t.Run("unannotated restore of a VolumeSnapshot is left alone", func(t *testing.T) {
		t.Parallel()
		c, warnings := e.warningClient(t)
		pvc := annotatedPVC(ns, "plain-restore", "", "1Gi")
		pvc.Annotations = nil
		pvc.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: "snap"}
		if err := c.Create(ctx, pvc); err != nil {
			t.Fatalf("create: %v", err)
		}
		expectRestoreOf(t, pvc, "snap", "1Gi") // dataSourceRef is the API server's copy
		if w := warnings.take(); len(w) != 0 {
			t.Errorf("warnings = %q, want none", w)
		}
	})

	t.Run("dataSource naming another object is denied", func(t *testing.T) {
		t.Parallel()
		pvc := annotatedPVC(ns, "both", "vol-a/backup-1", "1Gi")
		pvc.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "data"}
		err := e.client.Create(ctx, pvc)
		want := `admission webhook "persistentvolumeclaims.mutate.snaprestore.io" denied the request: ` +
			`PersistentVolumeClaim "both" is invalid: metadata.annotations[snaprestore.io/backup]: Forbidden: ` +
			`must not be set together with spec.dataSource naming PersistentVolumeClaim "data": the PVC restores either the backup or its data source`
		if err == nil || err.Error() != want {
			t.Errorf("create: err = %v\nwant %s", err, want)
		}
	})
}

// expectRestoreOf checks that the claim's dataSource and dataSourceRef name VolumeSnapshot
// snap and that its storage request is request.
func expectRestoreOf(t *testing.T, pvc *corev1.PersistentVolumeClaim, snap, request string) {
	t.Helper()
	group := snapv1.GroupName
	wantDS := &corev1.TypedLocalObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: snap}
	wantRef := &corev1.TypedObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: snap}
	if diff := cmp.Diff(wantDS, pvc.Spec.DataSource); diff != "" {
		t.Errorf("spec.dataSource (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantRef, pvc.Spec.DataSourceRef); diff != "" {
		t.Errorf("spec.dataSourceRef (-want +got):\n%s", diff)
	}
	if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != request {
		t.Errorf("storage request = %s, want %s", got.String(), request)
	}
}
