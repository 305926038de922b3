package populator

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// TestPatchLockedRereadsOnConflict: a finalizer patch that meets another
// writer's change (the PV controller annotating a new PVC) rereads the PVC,
// adds the finalizer again and keeps the other writer's change, in the same
// call; a patch that changes nothing is not sent.
func TestPatchLockedRereadsOnConflict(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "data"}}
	patches, conflicts := 0, 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pvc.DeepCopy()).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			patches++
			if patches == 1 { // another writer got there first
				var cur corev1.PersistentVolumeClaim
				if err := cl.Get(ctx, client.ObjectKeyFromObject(obj), &cur); err != nil {
					return err
				}
				cur.Annotations = map[string]string{"volume.kubernetes.io/storage-provisioner": "example.com/csi"}
				if err := cl.Update(ctx, &cur); err != nil {
					return err
				}
				conflicts++
				return apierrors.NewConflict(schema.GroupResource{Resource: "persistentvolumeclaims"}, obj.GetName(), nil)
			}
			return cl.Patch(ctx, obj, patch, opts...)
		},
	}).Build()
	r := &reconciler{client: c, live: c}
	var got corev1.PersistentVolumeClaim
	if err := c.Get(ctx, client.ObjectKeyFromObject(pvc), &got); err != nil {
		t.Fatal(err)
	}
	if err := r.patchLocked(ctx, &got, func() bool { return controllerutil.AddFinalizer(&got, Finalizer) }); err != nil {
		t.Fatalf("patchLocked: %v", err)
	}
	var stored corev1.PersistentVolumeClaim
	if err := c.Get(ctx, client.ObjectKeyFromObject(pvc), &stored); err != nil {
		t.Fatal(err)
	}
	if !hasFinalizer(stored.Finalizers) || stored.Annotations["volume.kubernetes.io/storage-provisioner"] == "" {
		t.Errorf("stored PVC finalizers %v, annotations %v; want the finalizer and the other writer's annotation", stored.Finalizers, stored.Annotations)
	}
	if conflicts != 1 || patches != 2 {
		t.Errorf("%d patches, %d conflicts; want the conflicting patch and one retry", patches, conflicts)
	}
	if err := r.patchLocked(ctx, &stored, func() bool { return controllerutil.AddFinalizer(&stored, Finalizer) }); err != nil || patches != 2 {
		t.Errorf("patchLocked with nothing to change: %v, %d patches; want none sent", err, patches)
	}
}
