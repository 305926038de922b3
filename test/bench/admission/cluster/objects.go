package cluster

import (
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Driver is the CSI driver of every benchmark object (the handlers' default
// Longhorn driver).
const Driver = "driver.longhorn.io"

var snapshotAPIVersion = snapv1.SchemeGroupVersion.String()

// Namespace returns a namespace object.
func Namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
}

// SnapshotClass returns a Longhorn backup class (parameters.type bak).
func SnapshotClass(name string) *snapv1.VolumeSnapshotClass {
	return &snapv1.VolumeSnapshotClass{
		TypeMeta:       metav1.TypeMeta{APIVersion: snapshotAPIVersion, Kind: "VolumeSnapshotClass"},
		ObjectMeta:     metav1.ObjectMeta{Name: name},
		Driver:         Driver,
		DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
		Parameters:     map[string]string{"type": "bak"},
	}
}

// StorageClass returns a StorageClass provisioned by Driver.
func StorageClass(name string) *storagev1.StorageClass {
	return &storagev1.StorageClass{
		TypeMeta:    metav1.TypeMeta{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass"},
		ObjectMeta:  metav1.ObjectMeta{Name: name},
		Provisioner: Driver,
	}
}

// Handle is the bak:// handle of the i-th benchmark backup.
func Handle(prefix string, i int) string {
	return fmt.Sprintf("bak://%s-vol-%d/backup-%d", prefix, i, i)
}

// Content returns a pre-provisioned VolumeSnapshotContent for an existing
// backup whose volumeSnapshotRef points at namespace/snapshot: what a user
// writes to restore a Longhorn backup (deletionPolicy Retain).
func Content(name, namespace, snapshot, class, handle string) *snapv1.VolumeSnapshotContent {
	return &snapv1.VolumeSnapshotContent{
		TypeMeta:   metav1.TypeMeta{APIVersion: snapshotAPIVersion, Kind: "VolumeSnapshotContent"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: snapv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef: corev1.ObjectReference{
				APIVersion: snapshotAPIVersion, Kind: "VolumeSnapshot", Namespace: namespace, Name: snapshot,
			},
			DeletionPolicy:          snapv1.VolumeSnapshotContentRetain,
			Driver:                  Driver,
			VolumeSnapshotClassName: ptr.To(class),
			Source:                  snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To(handle)},
		},
	}
}

// Snapshot returns a VolumeSnapshot bound to the pre-provisioned content.
func Snapshot(namespace, name, content, class string) *snapv1.VolumeSnapshot {
	return &snapv1.VolumeSnapshot{
		TypeMeta:   metav1.TypeMeta{APIVersion: snapshotAPIVersion, Kind: "VolumeSnapshot"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: snapv1.VolumeSnapshotSpec{
			Source:                  snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: ptr.To(content)},
			VolumeSnapshotClassName: ptr.To(class),
		},
	}
}

// BoundStatus is the status the snapshot controller writes once snapshot and
// content are bound: ready, with the backup's restore size.
func BoundStatus(content string, restoreSize resource.Quantity) *snapv1.VolumeSnapshotStatus {
	return &snapv1.VolumeSnapshotStatus{
		BoundVolumeSnapshotContentName: ptr.To(content),
		ReadyToUse:                     ptr.To(true),
		RestoreSize:                    &restoreSize,
	}
}

// RestorePVC returns a PVC restoring the named snapshot through storageClass.
func RestorePVC(namespace, name, snapshot, storageClass string, size resource.Quantity) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(storageClass),
			DataSource:       &corev1.TypedLocalObjectReference{APIGroup: ptr.To(snapv1.GroupName), Kind: "VolumeSnapshot", Name: snapshot},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}
