package main

import (
	"context"
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

// memObjects answers the rules' lookups from the benchmark's objects held in
// memory, without copies: what is left is the cost of the rules themselves.
type memObjects struct {
	content *snapv1.VolumeSnapshotContent
	snap    *snapv1.VolumeSnapshot
	class   *snapv1.VolumeSnapshotClass
	sc      *storagev1.StorageClass
}

var _ webhook.Objects = memObjects{}

func (m memObjects) Content(_ context.Context, name string) (*snapv1.VolumeSnapshotContent, webhook.Presence) {
	if name == m.content.Name {
		return m.content, webhook.Found
	}
	return nil, webhook.Missing
}

func (m memObjects) Snapshot(_ context.Context, namespace, name string) (*snapv1.VolumeSnapshot, webhook.Presence) {
	if namespace == m.snap.Namespace && name == m.snap.Name {
		return m.snap, webhook.Found
	}
	return nil, webhook.Missing
}

func (m memObjects) Class(_ context.Context, name string) (*snapv1.VolumeSnapshotClass, webhook.Presence) {
	if name == m.class.Name {
		return m.class, webhook.Found
	}
	return nil, webhook.Missing
}

func (m memObjects) StorageClass(_ context.Context, name string) (*storagev1.StorageClass, webhook.Presence) {
	if name == m.sc.Name {
		return m.sc, webhook.Found
	}
	return nil, webhook.Missing
}

func (m memObjects) DefaultClasses(context.Context, string) ([]string, bool) { return nil, true }

// BenchmarkRules runs webhook.Rules.Validate on the objects of the mix (CREATE)
// with every fact at hand: no decoding, no cache, no HTTP.
//
//	go test -run '^$' -bench Rules ./test/bench/admission
func BenchmarkRules(b *testing.B) {
	snap := cluster.Snapshot(benchNamespace, snapshotName(0), contentName(0), benchClass)
	snap.Status = cluster.BoundStatus(contentName(0), restoreSize)
	objs := memObjects{
		content: cluster.Content(contentName(0), benchNamespace, snapshotName(0), benchClass, cluster.Handle("bench", 0)),
		snap:    snap,
		class:   cluster.SnapshotClass(benchClass),
		sc:      cluster.StorageClass(benchStorageClass),
	}
	rules := webhook.NewRules(objs, webhook.HandlerOptions{LonghornDrivers: []string{cluster.Driver}})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		obj  runtime.Object
	}{
		{"VolumeSnapshot", cluster.Snapshot(benchNamespace, snapshotName(0), contentName(0), benchClass)},
		{"VolumeSnapshotContent", objs.content},
		{"VolumeSnapshotClass", objs.class},
		{"PersistentVolumeClaim", cluster.RestorePVC(benchNamespace, pvcName(0), snapshotName(0), benchStorageClass, pvcSize)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				errs, warnings, covered := rules.Validate(ctx, tc.obj, nil)
				if len(errs) > 0 || len(warnings) > 0 || !covered {
					b.Fatalf("%s: errors %v, warnings %v, covered %t; expected a valid object the rules cover", tc.name, errs, warnings, covered)
				}
			}
		})
	}
}
