package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

const (
	benchNamespace    = "bench"
	benchClass        = "bench-longhorn-backup"
	benchStorageClass = "bench-longhorn"
)

var (
	restoreSize = resource.MustParse("1Gi")
	pvcSize     = resource.MustParse("2Gi")
)

// review is one pre-marshalled AdmissionReview and the path it is posted to
// in the real phases.
type review struct {
	kind string // e.g. "validate VolumeSnapshot"
	path string
	body []byte
}

// seed creates what the reviews refer to: a VolumeSnapshotClass, a
// StorageClass, and n bound VolumeSnapshot/VolumeSnapshotContent pairs (with
// status, as the snapshot controller would write it). It returns when the
// manager's cache holds all of them, so that every lookup of a review hits the
// warm cache.
func seed(ctx context.Context, e *cluster.Env, n int) error {
	objs := []client.Object{cluster.Namespace(benchNamespace), cluster.SnapshotClass(benchClass), cluster.StorageClass(benchStorageClass)}
	for i := range n {
		objs = append(objs, cluster.Content(contentName(i), benchNamespace, snapshotName(i), benchClass, cluster.Handle("bench", i)))
	}
	for _, o := range objs {
		if err := e.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	for i := range n {
		s := cluster.Snapshot(benchNamespace, snapshotName(i), contentName(i), benchClass)
		if err := e.Client.Create(ctx, s); err != nil {
			return fmt.Errorf("create VolumeSnapshot %s/%s: %w", s.Namespace, s.Name, err)
		}
		s.Status = cluster.BoundStatus(contentName(i), restoreSize)
		if err := e.Client.Status().Update(ctx, s); err != nil {
			return fmt.Errorf("update status of VolumeSnapshot %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	cache := e.Manager.GetClient()
	deadline := time.Now().Add(2 * time.Minute)
	for i := range n {
		for {
			var s snapv1.VolumeSnapshot
			err := cache.Get(ctx, types.NamespacedName{Namespace: benchNamespace, Name: snapshotName(i)}, &s)
			if err == nil && s.Status != nil && s.Status.RestoreSize != nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("VolumeSnapshot %s/%s with status did not reach the manager's cache within 2m (last error: %v)", benchNamespace, snapshotName(i), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func snapshotName(i int) string { return fmt.Sprintf("snap-%d", i) }
func contentName(i int) string  { return fmt.Sprintf("bench-content-%d", i) }
func pvcName(i int) string      { return fmt.Sprintf("restore-%d", i) }

// reviews builds the mix: for each of the n seeded pairs a CREATE review of
// the VolumeSnapshot, its VolumeSnapshotContent (bak:// handle) and a PVC
// restoring the snapshot on the validating paths, and of the snapshot and
// the PVC on the mutating paths (without snaprestore annotations, so nothing
// is created). Every review is valid and must be allowed.
func reviews(n int) ([]review, error) {
	snapshots := schema.GroupVersionResource{Group: snapv1.GroupName, Version: "v1", Resource: "volumesnapshots"}
	contents := schema.GroupVersionResource{Group: snapv1.GroupName, Version: "v1", Resource: "volumesnapshotcontents"}
	pvcs := schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	var out []review
	for i := range n {
		snap := cluster.Snapshot(benchNamespace, snapshotName(i), contentName(i), benchClass)
		content := cluster.Content(contentName(i), benchNamespace, snapshotName(i), benchClass, cluster.Handle("bench", i))
		pvc := cluster.RestorePVC(benchNamespace, pvcName(i), snapshotName(i), benchStorageClass, pvcSize)
		for _, r := range []struct {
			kind, path string
			gvr        schema.GroupVersionResource
			obj        client.Object
		}{
			{"validate VolumeSnapshot", webhook.PathValidateVolumeSnapshots, snapshots, snap},
			{"validate VolumeSnapshotContent", webhook.PathValidateVolumeSnapshotContents, contents, content},
			{"validate PersistentVolumeClaim", webhook.PathValidatePVCs, pvcs, pvc},
			{"mutate VolumeSnapshot", webhook.PathMutateVolumeSnapshots, snapshots, snap},
			{"mutate PersistentVolumeClaim", webhook.PathMutatePVCs, pvcs, pvc},
		} {
			body, err := reviewBody(fmt.Sprintf("bench-%d-%s", i, r.path), r.gvr, r.obj)
			if err != nil {
				return nil, fmt.Errorf("marshal %s review: %w", r.kind, err)
			}
			out = append(out, review{kind: r.kind, path: r.path, body: body})
		}
	}
	return out, nil
}

// reviewBody is the AdmissionReview the API server sends for a CREATE of obj.
func reviewBody(uid string, gvr schema.GroupVersionResource, obj client.Object) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	kind := metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
	res := metav1.GroupVersionResource{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource}
	return json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID(uid),
			Kind:            kind,
			Resource:        res,
			RequestKind:     &kind,
			RequestResource: &res,
			Name:            obj.GetName(),
			Namespace:       obj.GetNamespace(),
			Operation:       admissionv1.Create,
			UserInfo:        authenticationv1.UserInfo{Username: "bench", Groups: []string{"system:authenticated"}},
			Object:          runtime.RawExtension{Raw: raw},
			Options:         runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
			DryRun:          new(false),
		},
	})
}
