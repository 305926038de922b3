package webhook

import (
	"context"
	"strings"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/testenv"
)

var clientDryRun = client.CreateOptions{DryRun: []string{metav1.DryRunAll}}

func testOrphanGC(t *testing.T, e *mutateEnv) {
	t.Parallel()
	ctx := context.Background()
	ns := createNamespace(t, e, "gc")
	rejected := func(name, backup string, edit ...func(*snapv1.VolumeSnapshot)) string {
		t.Helper()
		snap := annotatedSnapshot(ns, name, backup, append(edit, func(s *snapv1.VolumeSnapshot) {
			s.Labels = map[string]string{labelReject: "true"}
		})...)
		err := e.client.Create(ctx, snap)
		if err == nil || !strings.Contains(err.Error(), "rejected by the test") {
			t.Fatalf("create %s: err = %v, want the test's rejection", name, err)
		}
		content := contentName(ns, name, "bak://vol-a/"+backup[len("vol-a/"):])
		getOrFail(t, e.client, "", content, &snapv1.VolumeSnapshotContent{}) // created before the rejection
		return content
	}

	// Contents the GC must keep, created before the orphan so that their grace period has
	// passed by the time the orphan is gone.
	keepDelete := rejected("delete-policy", "vol-a/backup-1", func(s *snapv1.VolumeSnapshot) {
		s.Annotations[AnnotationDeletionPolicy] = "Delete"
	})
	bound := desiredContent(contentRequest{
		Name: "snaprestore-bound", SnapshotNamespace: ns, SnapshotName: "bound", Handle: "bak://vol-a/backup-1",
		Driver: "driver.longhorn.io", DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
	})
	bound.Spec.VolumeSnapshotRef.UID = "0b6e5c7a-1111-2222-3333-444455556666"
	notOurs := desiredContent(contentRequest{
		Name: "hand-made-unclaimed", SnapshotNamespace: ns, SnapshotName: "nobody", Handle: "bak://vol-a/backup-1",
		Driver: "driver.longhorn.io", DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
	})
	notOurs.Labels = nil
	for _, c := range []*snapv1.VolumeSnapshotContent{bound, notOurs} {
		if err := e.client.Create(ctx, c); err != nil {
			t.Fatalf("create %s: %v", c.Name, err)
		}
	}

	orphan := rejected("orphan", "vol-a/backup-2")
	testenv.Poll(t, "orphaned content deleted", func() bool {
		err := e.client.Get(ctx, client.ObjectKey{Name: orphan}, &snapv1.VolumeSnapshotContent{})
		return apierrors.IsNotFound(err)
	})
	for _, name := range []string{keepDelete, bound.Name, notOurs.Name} {
		getOrFail(t, e.client, "", name, &snapv1.VolumeSnapshotContent{})
	}
	// Kept must mean kept, not "not collected yet": after a further full grace period,
	// and a second orphan collected after it (so the GC was running all along), the
	// kept contents are still there.
	time.Sleep(testGrace) // the duration the contents must survive, not synchronization
	second := rejected("orphan-2", "vol-a/backup-2")
	testenv.Poll(t, "second orphaned content deleted", func() bool {
		return apierrors.IsNotFound(e.client.Get(ctx, client.ObjectKey{Name: second}, &snapv1.VolumeSnapshotContent{}))
	})
	for _, name := range []string{keepDelete, bound.Name, notOurs.Name} {
		getOrFail(t, e.client, "", name, &snapv1.VolumeSnapshotContent{})
	}

	// Deleting a snapshot that was never bound orphans its content too.
	snap := annotatedSnapshot(ns, "short-lived", "vol-a/backup-3")
	if err := e.client.Create(ctx, snap); err != nil {
		t.Fatalf("create: %v", err)
	}
	content := *snap.Spec.Source.VolumeSnapshotContentName
	if err := e.client.Delete(ctx, snap); err != nil {
		t.Fatalf("delete snapshot: %v", err)
	}
	testenv.Poll(t, "content of deleted snapshot deleted", func() bool {
		return apierrors.IsNotFound(e.client.Get(ctx, client.ObjectKey{Name: content}, &snapv1.VolumeSnapshotContent{}))
	})
}
