package webhook

import (
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

// MutatingHandlers holds the handlers for the mutate paths (#4). Register them with
// &webhook.Admission{Handler: h.VolumeSnapshots} etc.
type MutatingHandlers struct {
	VolumeSnapshots        admission.Handler // /mutate/volumesnapshots
	PersistentVolumeClaims admission.Handler // /mutate/persistentvolumeclaims
}

// NewMutatingHandlers builds the handlers on mgr: reads go through mgr's cache, creates
// through its client (writes are never cached), and the re-read after AlreadyExists through
// mgr.GetAPIReader(). The scheme must know snapshot.storage.k8s.io/v1 and core/v1.
func NewMutatingHandlers(mgr manager.Manager, opts MutateOptions) MutatingHandlers {
	opts.SetDefaults()
	store := objectStore{cache: mgr.GetClient(), live: mgr.GetAPIReader(), writer: mgr.GetClient()}
	return MutatingHandlers{
		VolumeSnapshots: newMutatingHandler(volumeSnapshotGK,
			&snapshotMutation{store: store, defaultDriver: opts.DefaultDriver, canonical: canonicalHandle, backups: opts.Backups},
			func() *snapv1.VolumeSnapshot { return &snapv1.VolumeSnapshot{} }),
		PersistentVolumeClaims: newMutatingHandler(persistentVolumeClaimGK,
			&pvcMutation{store: store, defaultDriver: opts.DefaultDriver, canonical: canonicalHandle, sizes: opts.Sizes, backups: opts.Backups,
				longhorn: opts.PopulateUnless},
			func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} }),
	}
}

// canonicalHandle is the canonical form of a stored snapshotHandle (bs:// becomes bak://);
// a handle that does not parse is compared as written.
func canonicalHandle(s string) string {
	h, err := restore.ParseHandle(s)
	if err != nil {
		return s
	}
	return h.String()
}
