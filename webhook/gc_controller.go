package webhook

import (
	"context"
	"fmt"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// gcController deletes VolumeSnapshotContents the webhook created that no VolumeSnapshot
// claims after the grace period (policy: orphaned). It runs in the webhook process and,
// like every controller-runtime controller, only on the elected leader when
// --leader-elect is set.
type gcController struct {
	client client.Client // cached reads, deletes
	live   client.Reader // uncached re-check right before a delete
	grace  time.Duration
	clock  clock.PassiveClock
}

// AddGC adds the orphan GC controller to mgr; grace (--gc-grace-period) 0 means
// DefaultGCGracePeriod.
func AddGC(mgr manager.Manager, grace time.Duration) error {
	if grace <= 0 {
		grace = DefaultGCGracePeriod
	}
	return addGC(mgr, grace, clock.RealClock{})
}

func addGC(mgr manager.Manager, grace time.Duration, clk clock.PassiveClock) error {
	r := &gcController{client: mgr.GetClient(), live: mgr.GetAPIReader(), grace: grace, clock: clk}
	managed := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[LabelManagedBy] == ManagedByValue
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("snaprestore-orphan-gc").
		For(&snapv1.VolumeSnapshotContent{}, builder.WithPredicates(managed)).
		// A deleted (or re-pointed) snapshot may orphan the content it named.
		Watches(&snapv1.VolumeSnapshot{}, handler.EnqueueRequestsFromMapFunc(snapshotContent)).
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true)}).
		Complete(r)
}

// snapshotContent maps a VolumeSnapshot to the content it names.
func snapshotContent(_ context.Context, o client.Object) []reconcile.Request {
	snap, ok := o.(*snapv1.VolumeSnapshot)
	if !ok || snap.Spec.Source.VolumeSnapshotContentName == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: *snap.Spec.Source.VolumeSnapshotContentName}}}
}

// Reconcile implements reconcile.Reconciler.
func (r *gcController) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logf.FromContext(ctx).WithName("gc")
	var c snapv1.VolumeSnapshotContent
	if err := r.client.Get(ctx, req.NamespacedName, &c); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	orphan, reason, err := r.decide(ctx, r.client, &c)
	if err != nil || !orphan {
		if reason == reasonGrace {
			return reconcile.Result{RequeueAfter: gcDeadline(&c, r.grace).Sub(r.clock.Now())}, nil
		}
		return reconcile.Result{}, r.countError(err)
	}
	// The cache may not have seen a snapshot created a moment ago: decide again on live
	// objects, and delete only the exact version that was judged.
	if err := r.live.Get(ctx, req.NamespacedName, &c); err != nil {
		return reconcile.Result{}, r.countError(client.IgnoreNotFound(err))
	}
	if orphan, _, err = r.decide(ctx, r.live, &c); err != nil || !orphan {
		return reconcile.Result{}, r.countError(err)
	}
	pre := client.Preconditions{UID: &c.UID, ResourceVersion: &c.ResourceVersion}
	if err := r.client.Delete(ctx, &c, pre); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Changed since it was judged (or gone): judge the new version.
			return reconcile.Result{RequeueAfter: time.Second}, nil
		}
		return reconcile.Result{}, r.countError(fmt.Errorf("delete VolumeSnapshotContent %s: %w", c.Name, err))
	}
	gcContentsDeleted.Inc()
	log.Info("Deleted orphaned VolumeSnapshotContent", "content", c.Name, "snapshot", describeContent(&c), "reason", reasonOrphaned)
	return reconcile.Result{}, nil
}

// decide fetches the claiming snapshot through reader and applies the policy.
func (r *gcController) decide(ctx context.Context, reader client.Reader, c *snapv1.VolumeSnapshotContent) (bool, string, error) {
	if orphan, reason := orphaned(c, true, r.clock.Now(), r.grace); reason != reasonClaimed {
		return orphan, reason, nil // decided without looking at the snapshot
	}
	ref := c.Spec.VolumeSnapshotRef
	var snap snapv1.VolumeSnapshot
	err := reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &snap)
	switch {
	case apierrors.IsNotFound(err):
		orphan, reason := orphaned(c, false, r.clock.Now(), r.grace)
		return orphan, reason, nil
	case err != nil:
		return false, "", fmt.Errorf("read VolumeSnapshot %s: %w", describeContent(c), err)
	}
	orphan, reason := orphaned(c, claims(&snap, c), r.clock.Now(), r.grace)
	return orphan, reason, nil
}

func (r *gcController) countError(err error) error {
	if err != nil {
		gcErrors.Inc()
	}
	return err
}
