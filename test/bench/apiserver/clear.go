package main

import (
	"context"
	"fmt"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// clear deletes the objects of the last phase and returns once neither the API
// server nor the webhook's cache holds any of them, so that the next phase creates
// the same objects into the same state. It is not timed.
func (b *bench) clear(ctx context.Context) error {
	if b.twin != nil {
		if err := b.twin.clear(ctx); err != nil {
			return fmt.Errorf("twin: %w", err)
		}
	}
	sel := metav1.ListOptions{LabelSelector: benchLabel}
	if err := b.snaps.SnapshotV1().VolumeSnapshots(benchNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("delete the VolumeSnapshots of namespace %s: %w", benchNamespace, err)
	}
	if err := b.snaps.SnapshotV1().VolumeSnapshotContents().DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("delete the VolumeSnapshotContents labelled %s: %w", benchLabel, err)
	}
	left := func() (int, error) {
		live := metav1.ListOptions{LabelSelector: benchLabel, Limit: 1}
		s, err := b.snaps.SnapshotV1().VolumeSnapshots(benchNamespace).List(ctx, live)
		if err != nil {
			return 0, err
		}
		c, err := b.snaps.SnapshotV1().VolumeSnapshotContents().List(ctx, live)
		if err != nil {
			return 0, err
		}
		if b.env.Manager == nil {
			return len(s.Items) + len(c.Items), nil
		}
		var cs snapv1.VolumeSnapshotList
		var cc snapv1.VolumeSnapshotContentList
		cache := b.env.Manager.GetCache()
		if err := cache.List(ctx, &cs, client.HasLabels{benchLabel}); err != nil {
			return 0, err
		}
		if err := cache.List(ctx, &cc, client.HasLabels{benchLabel}); err != nil {
			return 0, err
		}
		return len(s.Items) + len(c.Items) + len(cs.Items) + len(cc.Items), nil
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		n, err := left()
		if err != nil {
			return fmt.Errorf("list the phase's objects after deleting them: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the phase's objects are still listed (API server or the webhook's cache: %d) 2m after deleting them", n)
		}
	}
}
