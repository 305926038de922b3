package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

func vfCounter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func TestVerifierOnAPIServer(t *testing.T) {
	scheme := testenv.NewScheme()
	cfg := testenv.Start(t, testenv.Options{Scheme: scheme, SnapshotCRDs: true}).Config

	root := testenv.CopyTree(t, "../../restore/testdata/longhorn-backupstore/lz4-chain")
	// Damage one block only backup-7f3a9c21d4e85b60 lists (block 1 of the first backup).
	blk := filepath.Join(root, "backupstore/volumes/19/25/vol-lz4/blocks/7b/76/7b760650b8070cfc375644a979c3f2713a83689f530f46e34f4ed8b03bf6545c.blk")
	data, _ := os.ReadFile(blk)
	data[len(data)/2] ^= 1
	os.WriteFile(blk, data, 0o644)
	store, err := restore.OpenStore("file://"+root, restore.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Add(mgr, Options{Store: store, LonghornDrivers: []string{"driver.longhorn.io"}}); err != nil {
		t.Fatal(err)
	}
	testenv.RunManager(t, mgr)
	ctx := t.Context()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	intactBefore := vfCounter(verifications.WithLabelValues(resultIntact))
	damagedBefore := vfCounter(verifications.WithLabelValues(resultDamaged))

	cases := []struct {
		name, backup, verification, reason string
	}{
		{"intact", "backup-1c0e4b2f9a7d6835", "intact", "BackupVerified"},
		{"damaged", "backup-7f3a9c21d4e85b60", "damaged: 1 of 6 block objects", "BackupDamaged"},
	}
	for _, tc := range cases {
		createRestorePVC(t, c, "vf-"+tc.name, "vol-lz4/"+tc.backup)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := "vf-" + tc.name
			var pvc corev1.PersistentVolumeClaim
			testenv.Poll(t, "the verification annotation on "+ns+"/data", func() bool {
				return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data"}, &pvc) == nil && pvc.Annotations[AnnotationVerification] != ""
			})
			if got := pvc.Annotations[AnnotationVerification]; got != tc.verification {
				t.Errorf("%s = %q; want %q", AnnotationVerification, got, tc.verification)
			}
			// #10: the webhook restores nothing into its own pod any more.
			for _, a := range []string{"snaprestore.io/restore-status", "snaprestore.io/restored-image"} {
				if v, ok := pvc.Annotations[a]; ok {
					t.Errorf("annotation %s = %q; the verifier no longer materializes images", a, v)
				}
			}
			for _, kind := range []string{"PersistentVolumeClaim", "VolumeSnapshot"} {
				testenv.Poll(t, tc.reason+" event on the "+kind, func() bool {
					var evs corev1.EventList
					if err := c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
						return false
					}
					for _, e := range evs.Items {
						if e.InvolvedObject.Kind == kind && e.Reason == tc.reason &&
							strings.Contains(e.Message, "bak://vol-lz4/"+tc.backup) {
							return true
						}
					}
					return false
				})
			}
		})
	}
	t.Run("stale cache does not verify again", func(t *testing.T) { testStaleCache(t, mgr, c, store) })
	if d := vfCounter(verifications.WithLabelValues(resultIntact)) - intactBefore; d != 1 {
		t.Errorf("intact verifications +%v; want +1", d)
	}
	if d := vfCounter(verifications.WithLabelValues(resultDamaged)) - damagedBefore; d != 1 {
		t.Errorf("damaged verifications +%v; want +1", d)
	}
}

// createRestorePVC creates in a new namespace ns a pre-provisioned content of the Longhorn
// backup "<volume>/<backup>", its VolumeSnapshot and a PVC restoring it.
func createRestorePVC(t *testing.T, c client.Client, ns, backup string) {
	t.Helper()
	ctx := t.Context()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	content := &snapv1.VolumeSnapshotContent{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-content"},
		Spec: snapv1.VolumeSnapshotContentSpec{
			Driver: "driver.longhorn.io", DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
			Source:            snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To("bak://" + backup)},
			VolumeSnapshotRef: corev1.ObjectReference{Namespace: ns, Name: "snap"},
		},
	}
	snap := &snapv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "snap"},
		Spec:       snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: ptr.To(content.Name)}},
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
			DataSource:  &corev1.TypedLocalObjectReference{APIGroup: ptr.To(snapv1.GroupName), Kind: "VolumeSnapshot", Name: "snap"},
		},
	}
	for _, o := range []client.Object{content, snap, pvc} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
}

// testStaleCache: the cache may still hold the PVC from before the verifier's own
// annotation patch; reconciling that copy must not verify a second time.
func testStaleCache(t *testing.T, mgr manager.Manager, c client.Client, store *restore.Store) {
	ctx := t.Context()
	scheme := mgr.GetScheme()
	key := client.ObjectKey{Namespace: "vf-intact", Name: "data"}
	stale := interceptor.NewClient(fake.NewClientBuilder().WithScheme(scheme).Build(), interceptor.Funcs{
		Get: func(ctx context.Context, _ client.WithWatch, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, k, obj, opts...); err != nil {
				return err
			}
			obj.SetAnnotations(nil) // as before verification
			return nil
		},
	})
	v := &verifier{client: stale, live: c, recorder: mgr.GetEventRecorderFor("snaprestore"), store: store, drivers: []string{"driver.longhorn.io"}}
	verifiedBefore := vfCounter(verifications.WithLabelValues(resultIntact))
	if _, err := v.Reconcile(ctx, reconcile.Request{NamespacedName: key}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if d := vfCounter(verifications.WithLabelValues(resultIntact)) - verifiedBefore; d != 0 {
		t.Errorf("intact verifications +%v after a stale reconcile; want +0", d)
	}
	var pvc corev1.PersistentVolumeClaim
	if err := c.Get(ctx, key, &pvc); err != nil {
		t.Fatal(err)
	}
	if got := pvc.Annotations[AnnotationVerification]; got != resultIntact {
		t.Errorf("%s = %q after a stale reconcile; want %q", AnnotationVerification, got, resultIntact)
	}
}
