package offline

import (
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// index holds the objects of the input files by kind and namespace/name, so cross-object
// rules see each other's objects. Offline nothing else is known: an object that is not in
// the files is unknown, never missing.
type index struct {
	snapshots      map[string]*snapv1.VolumeSnapshot
	contents       map[string]*snapv1.VolumeSnapshotContent
	classes        map[string]*snapv1.VolumeSnapshotClass
	claims         map[string]*corev1.PersistentVolumeClaim
	storageClasses map[string]*storagev1.StorageClass
}

func key(namespace, name string) string { return namespace + "/" + name }

// newIndex indexes the typed objects; namespaced objects must already carry their
// namespace. A later object with the same kind and name replaces an earlier one, as a
// later apply would.
func newIndex(objs []Object) *index {
	ix := &index{
		snapshots:      map[string]*snapv1.VolumeSnapshot{},
		contents:       map[string]*snapv1.VolumeSnapshotContent{},
		classes:        map[string]*snapv1.VolumeSnapshotClass{},
		claims:         map[string]*corev1.PersistentVolumeClaim{},
		storageClasses: map[string]*storagev1.StorageClass{},
	}
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *snapv1.VolumeSnapshot:
			ix.snapshots[key(t.Namespace, t.Name)] = t
		case *snapv1.VolumeSnapshotContent:
			ix.contents[key("", t.Name)] = t
		case *snapv1.VolumeSnapshotClass:
			ix.classes[key("", t.Name)] = t
		case *corev1.PersistentVolumeClaim:
			ix.claims[key(t.Namespace, t.Name)] = t
		case *storagev1.StorageClass:
			ix.storageClasses[key("", t.Name)] = t
		}
	}
	return ix
}
