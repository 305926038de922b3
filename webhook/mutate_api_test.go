package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/restore"
)

// warningRecorder collects the warnings the API server relays from admission webhooks.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

func (e *mutateEnv) warningClient(t *testing.T) (client.Client, *warningRecorder) {
	t.Helper()
	w := &warningRecorder{}
	cfg := rest.CopyConfig(e.cfg)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: e.scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c, w
}

func annotatedSnapshot(ns, name, backup string, edit ...func(*snapv1.VolumeSnapshot)) *snapv1.VolumeSnapshot {
	s := &snapv1.VolumeSnapshot{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, Annotations: map[string]string{AnnotationBackup: backup},
	}}
	for _, f := range edit {
		f(s)
	}
	return s
}

func annotatedPVC(ns, name, backup, request string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{AnnotationBackup: backup}},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("longhorn-test"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}},
		},
	}
}

func getOrFail[T client.Object](t *testing.T, c client.Client, ns, name string, obj T) T {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s/%s: %v", obj, ns, name, err)
	}
	return obj
}

func expectNotFound(t *testing.T, c client.Client, ns, name string, obj client.Object) {
	t.Helper()
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	if !apierrors.IsNotFound(err) {
		t.Errorf("get %T %s/%s: err = %v, want NotFound", obj, ns, name, err)
	}
}

// contentView is what the tests compare of a created content.
type contentView struct {
	Labels, Annotations map[string]string
	Spec                snapv1.VolumeSnapshotContentSpec
}

func viewContent(c *snapv1.VolumeSnapshotContent) contentView {
	return contentView{Labels: c.Labels, Annotations: c.Annotations, Spec: c.Spec}
}

func wantContentView(ns, snap, handle, driver string, class *string, policy snapv1.DeletionPolicy) contentView {
	return contentView{
		Labels:      map[string]string{LabelManagedBy: ManagedByValue},
		Annotations: map[string]string{AnnotationSnapshotNamespace: ns, AnnotationSnapshotName: snap},
		Spec: snapv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef:       corev1.ObjectReference{Namespace: ns, Name: snap},
			DeletionPolicy:          policy,
			Driver:                  driver,
			VolumeSnapshotClassName: class,
			Source:                  snapv1.VolumeSnapshotContentSource{SnapshotHandle: &handle},
		},
	}
}

func TestMutatingWebhookAPIServer(t *testing.T) {
	e := startMutateEnv(t)
	ctx := context.Background()
	for _, obj := range []client.Object{
		&snapv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: "other-class"}, Driver: "other.csi.example.com", DeletionPolicy: snapv1.VolumeSnapshotContentDelete},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "longhorn-test"}, Provisioner: "driver.longhorn.io"},
	} {
		if err := e.client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
	}
	t.Run("snapshot", func(t *testing.T) { testSnapshotMutation(t, e) })
	t.Run("pvc", func(t *testing.T) { testPVCMutation(t, e) })
	t.Run("gc", func(t *testing.T) { testOrphanGC(t, e) })
	t.Run("kubectl", func(t *testing.T) { testKubectl(t, e) })
}

func testSnapshotMutation(t *testing.T, e *mutateEnv) {
	t.Parallel()
	testSnapshotMutationCreates(t, e)
	testSnapshotMutationDenials(t, e)
	testSnapshotMutationReuse(t, e)
}

func testSnapshotMutationCreates(t *testing.T, e *mutateEnv) {
	ctx := context.Background()
	ns := createNamespace(t, e, "snapshots")

	t.Run("creates the content and points the snapshot at it", func(t *testing.T) {
		t.Parallel()
		c, warnings := e.warningClient(t)
		snap := annotatedSnapshot(ns, "restore-1", "bak://vol-a/backup-1", func(s *snapv1.VolumeSnapshot) {
			s.Spec.VolumeSnapshotClassName = ptr.To("other-class")
		})
		if err := c.Create(ctx, snap); err != nil {
			t.Fatalf("create: %v", err)
		}
		name := contentName(ns, "restore-1", "bak://vol-a/backup-1")
		if got := deref(snap.Spec.Source.VolumeSnapshotContentName); got != name {
			t.Errorf("spec.source.volumeSnapshotContentName = %q, want %q", got, name)
		}
		content := getOrFail(t, e.client, "", name, &snapv1.VolumeSnapshotContent{})
		want := wantContentView(ns, "restore-1", "bak://vol-a/backup-1", "other.csi.example.com", ptr.To("other-class"), snapv1.VolumeSnapshotContentRetain)
		if diff := cmp.Diff(want, viewContent(content)); diff != "" {
			t.Errorf("content (-want +got):\n%s", diff)
		}
		if w := warnings.take(); len(w) != 0 {
			t.Errorf("warnings = %q, want none", w)
		}

		// A re-apply that no longer carries the field the webhook set (server-side apply,
		// replace) leaves the snapshot as it is.
		rv := snap.ResourceVersion
		snap.Spec.Source.VolumeSnapshotContentName = nil
		if err := c.Update(ctx, snap); err != nil {
			t.Fatalf("update without source: %v", err)
		}
		if snap.ResourceVersion != rv || deref(snap.Spec.Source.VolumeSnapshotContentName) != name {
			t.Errorf("after update: resourceVersion %s (was %s), source %q; want unchanged", snap.ResourceVersion, rv, deref(snap.Spec.Source.VolumeSnapshotContentName))
		}
	})

	t.Run("Delete policy, legacy handle, default driver", func(t *testing.T) {
		t.Parallel()
		c, warnings := e.warningClient(t)
		snap := annotatedSnapshot(ns, "restore-2", "bs://vol-a/backup-2", func(s *snapv1.VolumeSnapshot) {
			s.Annotations[AnnotationDeletionPolicy] = "Delete"
		})
		if err := c.Create(ctx, snap); err != nil {
			t.Fatalf("create: %v", err)
		}
		name := contentName(ns, "restore-2", "bak://vol-a/backup-2")
		content := getOrFail(t, e.client, "", name, &snapv1.VolumeSnapshotContent{})
		want := wantContentView(ns, "restore-2", "bak://vol-a/backup-2", "driver.longhorn.io", nil, snapv1.VolumeSnapshotContentDelete)
		if diff := cmp.Diff(want, viewContent(content)); diff != "" {
			t.Errorf("content (-want +got):\n%s", diff)
		}
		wantWarnings := []string{"metadata.annotations[snaprestore.io/backup]: bs:// is deprecated; write bak://vol-a/backup-2"}
		if diff := cmp.Diff(wantWarnings, warnings.take()); diff != "" {
			t.Errorf("warnings (-want +got):\n%s", diff)
		}
	})

	t.Run("dry run creates nothing", func(t *testing.T) {
		t.Parallel()
		snap := annotatedSnapshot(ns, "dry", "vol-a/backup-1")
		if err := e.client.Create(ctx, snap, &clientDryRun); err != nil {
			t.Fatalf("dry-run create: %v", err)
		}
		name := contentName(ns, "dry", "bak://vol-a/backup-1")
		if got := deref(snap.Spec.Source.VolumeSnapshotContentName); got != name {
			t.Errorf("dry run: spec.source.volumeSnapshotContentName = %q, want %q", got, name)
		}
		expectNotFound(t, e.client, "", name, &snapv1.VolumeSnapshotContent{})
		expectNotFound(t, e.client, ns, "dry", &snapv1.VolumeSnapshot{})
	})

}

func testSnapshotMutationDenials(t *testing.T, e *mutateEnv) {
	ctx := context.Background()
	ns := createNamespace(t, e, "snapshots")

	t.Run("unparsable reference is denied, nothing created", func(t *testing.T) {
		t.Parallel()
		value := "bak://test-vol"
		_, perr := restore.ParseReference(value)
		var he *restore.HandleError
		if !errors.As(perr, &he) {
			t.Fatalf("ParseReference(%q) error = %v, want *restore.HandleError", value, perr)
		}
		err := e.client.Create(ctx, annotatedSnapshot(ns, "bad", value))
		want := fmt.Sprintf(`admission webhook "volumesnapshots.mutate.snaprestore.io" denied the request: `+
			`VolumeSnapshot.snapshot.storage.k8s.io "bad" is invalid: metadata.annotations[snaprestore.io/backup]: Invalid value: %q: %s; expected %s`,
			value, he.Problem, he.Expected)
		if err == nil || err.Error() != want {
			t.Errorf("create: err = %v\nwant %s", err, want)
		}
		var contents snapv1.VolumeSnapshotContentList
		if err := e.client.List(ctx, &contents); err != nil {
			t.Fatalf("list contents: %v", err)
		}
		for _, c := range contents.Items {
			if c.Spec.VolumeSnapshotRef.Namespace == ns && c.Spec.VolumeSnapshotRef.Name == "bad" {
				t.Errorf("content %s was created for a denied reference", c.Name)
			}
		}
	})

	t.Run("missing backup is denied, nothing created", func(t *testing.T) {
		t.Parallel()
		err := e.client.Create(ctx, annotatedSnapshot(ns, "missing", "vol-a/backup-missing"))
		want := `admission webhook "volumesnapshots.mutate.snaprestore.io" denied the request: ` +
			`VolumeSnapshot.snapshot.storage.k8s.io "missing" is invalid: metadata.annotations[snaprestore.io/backup]: Invalid value: "vol-a/backup-missing": backup "backup-missing" of volume "vol-a" does not exist in the backupstore`
		if err == nil || err.Error() != want {
			t.Errorf("create: err = %v\nwant %s", err, want)
		}
		expectNotFound(t, e.client, "", contentName(ns, "missing", "bak://vol-a/backup-missing"), &snapv1.VolumeSnapshotContent{})
	})

	t.Run("named content that conflicts is denied", func(t *testing.T) {
		t.Parallel()
		handle := "bak://vol-a/other"
		if err := e.client.Create(ctx, &snapv1.VolumeSnapshotContent{
			ObjectMeta: metav1.ObjectMeta{Name: "hand-made-conflict"},
			Spec: snapv1.VolumeSnapshotContentSpec{
				VolumeSnapshotRef: corev1.ObjectReference{Namespace: ns, Name: "conflict"},
				DeletionPolicy:    snapv1.VolumeSnapshotContentRetain, Driver: "driver.longhorn.io",
				Source: snapv1.VolumeSnapshotContentSource{SnapshotHandle: &handle},
			},
		}); err != nil {
			t.Fatalf("create content: %v", err)
		}
		err := e.client.Create(ctx, annotatedSnapshot(ns, "conflict", "vol-a/backup-1", func(s *snapv1.VolumeSnapshot) {
			s.Spec.Source.VolumeSnapshotContentName = ptr.To("hand-made-conflict")
		}))
		want := `admission webhook "volumesnapshots.mutate.snaprestore.io" denied the request: ` +
			`VolumeSnapshot.snapshot.storage.k8s.io "conflict" is invalid: spec.source.volumeSnapshotContentName: Forbidden: ` +
			`VolumeSnapshotContent "hand-made-conflict" already exists and does not match: spec.source.snapshotHandle is "bak://vol-a/other", not "bak://vol-a/backup-1"`
		if err == nil || err.Error() != want {
			t.Errorf("create: err = %v\nwant %s", err, want)
		}
	})

}

func testSnapshotMutationReuse(t *testing.T, e *mutateEnv) {
	ctx := context.Background()
	ns := createNamespace(t, e, "snapshots")

	t.Run("named content that matches is reused", func(t *testing.T) {
		t.Parallel()
		handle := "bs://vol-a/backup-1"
		if err := e.client.Create(ctx, &snapv1.VolumeSnapshotContent{
			ObjectMeta: metav1.ObjectMeta{Name: "hand-made-match"},
			Spec: snapv1.VolumeSnapshotContentSpec{
				VolumeSnapshotRef: corev1.ObjectReference{Namespace: ns, Name: "match"},
				DeletionPolicy:    snapv1.VolumeSnapshotContentRetain, Driver: "driver.longhorn.io",
				Source: snapv1.VolumeSnapshotContentSource{SnapshotHandle: &handle},
			},
		}); err != nil {
			t.Fatalf("create content: %v", err)
		}
		snap := annotatedSnapshot(ns, "match", "vol-a/backup-1", func(s *snapv1.VolumeSnapshot) {
			s.Spec.Source.VolumeSnapshotContentName = ptr.To("hand-made-match")
		})
		if err := e.client.Create(ctx, snap); err != nil {
			t.Fatalf("create: %v", err)
		}
		if n := e.creates.get("hand-made-match"); n != 0 {
			t.Errorf("webhook created hand-made-match %d times, want 0", n)
		}
	})

	t.Run("reinvocation does not create twice", func(t *testing.T) {
		t.Parallel()
		snap := annotatedSnapshot(ns, "reinvoked", "vol-a/backup-1", func(s *snapv1.VolumeSnapshot) {
			s.Labels = map[string]string{labelReinvoke: "true"}
		})
		if err := e.client.Create(ctx, snap); err != nil {
			t.Fatalf("create: %v", err)
		}
		name := contentName(ns, "reinvoked", "bak://vol-a/backup-1")
		if snap.Labels[labelTouched] != "true" || deref(snap.Spec.Source.VolumeSnapshotContentName) != name {
			t.Errorf("snapshot labels %v, source %q; want touched and %q", snap.Labels, deref(snap.Spec.Source.VolumeSnapshotContentName), name)
		}
		if got := e.calls.get(ns + "/reinvoked"); got != 2 {
			t.Errorf("snaprestore webhook called %d times, want 2 (once reinvoked)", got)
		}
		if got := e.creates.get(name); got != 1 {
			t.Errorf("content %s created %d times, want 1", name, got)
		}
	})
}
