package nodeagent

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseDuration is the node Lease's term; the agent renews it every leaseDuration/4,
// far inside the node lifecycle controller's 40-50 s grace period.
const leaseDuration = 40 * time.Second

// newNode is the agent's Node: Ready, schedulable, with the capacity a small test
// node has and the well-known labels the scheduler and topology rules use.
func newNode(name string, now time.Time) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	t := metav1.NewTime(now)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
		}},
		Status: corev1.NodeStatus{
			Capacity: capacity, Allocatable: capacity,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				Reason: "KubeletReady", Message: "nodeagent is running", LastHeartbeatTime: t, LastTransitionTime: t}},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
				{Type: corev1.NodeHostName, Address: name}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2-nodeagent", OperatingSystem: "linux", Architecture: "amd64"},
		},
	}
}

// registerNode creates the Node (or adopts one left by an earlier agent) and sets its
// status, as the kubelet's registration does.
func registerNode(ctx context.Context, c client.Client, name string) error {
	want := newNode(name, time.Now())
	node := want.DeepCopy()
	if err := c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", name, err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
		return fmt.Errorf("register node %s: %w", name, err)
	}
	node.Status = want.Status
	if err := c.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("set status of node %s: %w", name, err)
	}
	return nil
}

// renewLease creates or renews the node's Lease in kube-node-lease, the heartbeat
// the node lifecycle controller reads.
func renewLease(ctx context.Context, c client.Client, node string) error {
	now := metav1.NewMicroTime(time.Now())
	var l coordinationv1.Lease
	err := c.Get(ctx, client.ObjectKey{Namespace: corev1.NamespaceNodeLease, Name: node}, &l)
	if apierrors.IsNotFound(err) {
		l = coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: node},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: new(node), RenewTime: &now,
				LeaseDurationSeconds: new(int32(leaseDuration / time.Second))},
		}
		return c.Create(ctx, &l)
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &now
	return c.Update(ctx, &l)
}

// heartbeat renews the Lease until ctx ends. A failed renewal is retried at the next
// tick; the test then sees a NotReady node rather than a hung agent.
func heartbeat(ctx context.Context, c client.Client, node string, report func(error)) {
	tick := time.NewTicker(leaseDuration / 4)
	defer tick.Stop()
	for {
		if err := renewLease(ctx, c, node); err != nil && ctx.Err() == nil {
			report(fmt.Errorf("renew lease of node %s: %w", node, err))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
