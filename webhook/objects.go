package webhook

import (
	"context"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/webhook/source"
)

// Presence is what a lookup knows about an object (source.Presence).
type Presence = source.Presence

// Presences; the zero value is Unknown so that a lookup that says nothing denies nothing.
const (
	Unknown = source.Unknown
	Found   = source.Found
	Missing = source.Missing
)

// Objects are the cross-object facts the validating rules need, fetched before a rule
// runs. The webhook answers from the manager's cache (cachedObjects); snaprestore
// validate answers from the given files and says Unknown for anything else. Its
// Snapshot and Content methods are the source.Lookup of a restore PVC's chain.
type Objects interface {
	source.Lookup
	Class(ctx context.Context, name string) (*snapv1.VolumeSnapshotClass, Presence)
	StorageClass(ctx context.Context, name string) (*storagev1.StorageClass, Presence)
	// DefaultClasses names the VolumeSnapshotClasses of driver marked as default.
	// complete is false when other classes may exist that the lookup cannot see.
	DefaultClasses(ctx context.Context, driver string) (names []string, complete bool)
}

// cachedObjects reads through the manager's informer cache. A cache miss is confirmed
// once with an uncached read, because an object created a moment before the request
// (the content of a snapshot in the same kubectl apply) may not have reached the cache
// yet; hits never cause a live read.
type cachedObjects struct {
	store apiObjects
}

var _ Objects = cachedObjects{}

func newCachedObjects(cache, live client.Reader) cachedObjects {
	return cachedObjects{store: apiObjects{cache: cache, live: live}}
}

// lookup turns a read's error into a Presence.
func lookup(err error) Presence {
	switch {
	case err == nil:
		return Found
	case apierrors.IsNotFound(err):
		return Missing
	}
	return Unknown
}

func (c cachedObjects) Content(ctx context.Context, name string) (*snapv1.VolumeSnapshotContent, Presence) {
	obj := &snapv1.VolumeSnapshotContent{}
	return obj, lookup(c.store.get(ctx, client.ObjectKey{Name: name}, obj))
}

// Snapshot treats a cached snapshot without status.restoreSize like a miss: the size is
// set by a status update that may not have reached the cache, and a restore PVC is often
// created right after it.
func (c cachedObjects) Snapshot(ctx context.Context, namespace, name string) (*snapv1.VolumeSnapshot, Presence) {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	obj := &snapv1.VolumeSnapshot{}
	err := c.store.cache.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) || (err == nil && (obj.Status == nil || obj.Status.RestoreSize == nil)) {
		err = c.store.live.Get(ctx, key, obj)
	}
	return obj, lookup(err)
}

func (c cachedObjects) Class(ctx context.Context, name string) (*snapv1.VolumeSnapshotClass, Presence) {
	obj := &snapv1.VolumeSnapshotClass{}
	return obj, lookup(c.store.get(ctx, client.ObjectKey{Name: name}, obj))
}

func (c cachedObjects) StorageClass(ctx context.Context, name string) (*storagev1.StorageClass, Presence) {
	obj := &storagev1.StorageClass{}
	return obj, lookup(c.store.get(ctx, client.ObjectKey{Name: name}, obj))
}

// DefaultClasses lists the cache; when it holds no default of driver it lists once more
// from the API server (the miss path: a class created a moment ago).
func (c cachedObjects) DefaultClasses(ctx context.Context, driver string) ([]string, bool) {
	names, err := defaultClasses(ctx, c.store.cache, driver)
	if err == nil && len(names) == 0 {
		names, err = defaultClasses(ctx, c.store.live, driver)
	}
	return names, err == nil
}

func defaultClasses(ctx context.Context, r client.Reader, driver string) ([]string, error) {
	var list snapv1.VolumeSnapshotClassList
	if err := r.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list VolumeSnapshotClasses: %w", err)
	}
	var names []string
	for i := range list.Items {
		if c := &list.Items[i]; c.Driver == driver && isDefaultClass(c) {
			names = append(names, c.Name)
		}
	}
	return names, nil
}
