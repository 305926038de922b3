package populator

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

// controllerName names the controller, its events and its logger.
const controllerName = "snaprestore-populator"

// reconciler populates the PVCs whose dataSourceRef names a BackupSource. It
// runs on the elected leader, like every controller of the manager.
type reconciler struct {
	client client.Client
	// pods reads the populator pods from a cache of the controller's namespace
	// only: the webhook needs no pod informer, and the RBAC stays a Role.
	pods client.Reader
	// live reads the backupstore Secrets a BackupSource names, uncached: get
	// on the one Secret, never a cluster-wide Secret informer.
	live     client.Reader
	recorder record.EventRecorder
	o        Options
	now      func() time.Time
}

// Add adds the populator controller to mgr; the manager's scheme must know
// core/v1, storage/v1 and snaprestore.io/v1alpha1 (AddToScheme). o should
// have passed Validate.
func Add(mgr manager.Manager, o Options) error {
	o.SetDefaults()
	if o.Namespace == "" {
		o.Namespace = os.Getenv(EnvPodNamespace)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	pods, err := cache.New(mgr.GetConfig(), cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultNamespaces:    map[string]cache.Config{o.Namespace: {}},
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{LabelComponent: ComponentValue})})
	if err != nil {
		return fmt.Errorf("populator pod cache: %w", err)
	}
	if err := mgr.Add(pods); err != nil {
		return err
	}
	r := &reconciler{client: mgr.GetClient(), pods: pods, live: mgr.GetAPIReader(), recorder: mgr.GetEventRecorderFor(controllerName), o: o, now: time.Now}
	ours := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		pvc, ok := obj.(*corev1.PersistentVolumeClaim)
		return ok && wantsPopulation(pvc)
	})
	made := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetNamespace() == o.Namespace && obj.GetLabels()[LabelComponent] == ComponentValue
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(controllerName).
		For(&corev1.PersistentVolumeClaim{}, builder.WithPredicates(ours)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(userPVC), builder.WithPredicates(made)).
		WatchesRawSource(source.Kind(pods, &corev1.Pod{}, handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, p *corev1.Pod) []reconcile.Request {
			return userPVC(ctx, p)
		}))).
		Watches(&v1alpha1.BackupSource{}, handler.EnqueueRequestsFromMapFunc(r.sourcePVCs)).
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true)}).
		Complete(r)
}

// wantsPopulation: the PVC's dataSourceRef names a snaprestore.io BackupSource.
func wantsPopulation(pvc *corev1.PersistentVolumeClaim) bool {
	r := pvc.Spec.DataSourceRef
	return r != nil && r.APIGroup != nil && *r.APIGroup == v1alpha1.Group && r.Kind == v1alpha1.Kind
}

// userPVC maps a prime PVC or populator pod to the PVC it populates.
func userPVC(_ context.Context, o client.Object) []reconcile.Request {
	ns, name, ok := parsePopulatedFor(o.GetAnnotations()[AnnPopulatedFor])
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
}

// sourcePVCs maps a BackupSource to the PVCs of its namespace that name it.
func (r *reconciler) sourcePVCs(ctx context.Context, o client.Object) []reconcile.Request {
	var list corev1.PersistentVolumeClaimList
	if err := r.client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if p := &list.Items[i]; wantsPopulation(p) && p.Spec.DataSourceRef.Name == o.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p)})
		}
	}
	return reqs
}

// Reconcile implements reconcile.Reconciler: read the facts, decide, act.
func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pvc corev1.PersistentVolumeClaim
	if err := r.client.Get(ctx, req.NamespacedName, &pvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !wantsPopulation(&pvc) {
		return reconcile.Result{}, nil
	}
	f, err := r.facts(ctx, &pvc)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.adopt(ctx, f); err != nil {
		return reconcile.Result{}, err
	}
	d := decide(f)
	logf.FromContext(ctx).WithName("populator").V(1).Info("Decided", "action", d.Action, "reason", d.Reason)
	return r.act(ctx, f, d)
}

// adopt makes the PVC the owner of a BackupSource the webhook created for it
// (AnnCreatedFor), so the garbage collector deletes it with the PVC: at
// admission the PVC had no UID to own it with.
func (r *reconciler) adopt(ctx context.Context, f facts) error {
	src, pvc := f.Source, f.PVC
	if src == nil || src.Annotations[AnnCreatedFor] != pvc.Name || pvc.UID == "" {
		return nil
	}
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "PersistentVolumeClaim", Name: pvc.Name, UID: pvc.UID}
	if err := r.patchLocked(ctx, src, func() bool {
		for _, o := range src.OwnerReferences {
			if o.UID == pvc.UID {
				return false
			}
		}
		src.OwnerReferences = append(src.OwnerReferences, owner)
		return true
	}); err != nil {
		return fmt.Errorf("make PVC %s/%s the owner of BackupSource %s: %w", pvc.Namespace, pvc.Name, src.Name, err)
	}
	return nil
}

// facts reads the BackupSource, the class, the prime PVC, its PV and the pod.
func (r *reconciler) facts(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (facts, error) {
	f := facts{PVC: pvc, Now: r.now(), MaxAttempts: r.o.MaxAttempts, Backoff: r.o.Backoff}
	src := &v1alpha1.BackupSource{}
	if found, err := r.get(ctx, pvc.Namespace, pvc.Spec.DataSourceRef.Name, src); err != nil {
		return f, err
	} else if found {
		f.Source = src
	}
	if cls := ptr.Deref(pvc.Spec.StorageClassName, ""); cls != "" {
		sc := &storagev1.StorageClass{}
		if found, err := r.get(ctx, "", cls, sc); err != nil {
			return f, err
		} else if found {
			f.WaitForConsumer = ptr.Deref(sc.VolumeBindingMode, storagev1.VolumeBindingImmediate) == storagev1.VolumeBindingWaitForFirstConsumer
		}
	}
	prime := &corev1.PersistentVolumeClaim{}
	if found, err := r.get(ctx, r.o.Namespace, primeName(pvc), prime); err != nil {
		return f, err
	} else if found {
		f.Prime = prime
	}
	if f.Prime != nil && f.Prime.Spec.VolumeName != "" {
		pv := &corev1.PersistentVolume{}
		if found, err := r.get(ctx, "", f.Prime.Spec.VolumeName, pv); err != nil {
			return f, err
		} else if found {
			f.PV = pv
		}
	}
	pod := &corev1.Pod{}
	if err := r.pods.Get(ctx, types.NamespacedName{Namespace: r.o.Namespace, Name: podName(pvc)}, pod); err == nil {
		f.Pod = pod
	} else if !apierrors.IsNotFound(err) {
		return f, fmt.Errorf("get pod %s/%s: %w", r.o.Namespace, podName(pvc), err)
	}
	return f, nil
}

// get reads one object; found is false when it does not exist.
func (r *reconciler) get(ctx context.Context, ns, name string, obj client.Object) (found bool, err error) {
	err = r.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %T %s/%s: %w", obj, ns, name, err)
	}
	return true, nil
}
