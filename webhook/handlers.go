package webhook

import (
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

// ValidatingHandlers holds the handlers for the validate paths (see paths.go), each
// counted in the admission metrics (metrics.go). Register them with
// &webhook.Admission{Handler: h.VolumeSnapshots} etc.; Setup does.
type ValidatingHandlers struct {
	VolumeSnapshots        admission.Handler // PathValidateVolumeSnapshots
	VolumeSnapshotContents admission.Handler // PathValidateVolumeSnapshotContents
	VolumeSnapshotClasses  admission.Handler // PathValidateVolumeSnapshotClasses
	PersistentVolumeClaims admission.Handler // PathValidatePVCs
}

// NewValidatingHandlers builds the handlers on mgr. Cross-object reads go through mgr's
// cache; only a miss is confirmed with mgr.GetAPIReader(). The scheme must know
// snapshot.storage.k8s.io/v1, core/v1 and storage/v1.
func NewValidatingHandlers(mgr manager.Manager, opts HandlerOptions) ValidatingHandlers {
	h := NewRules(newCachedObjects(mgr.GetClient(), mgr.GetAPIReader()), opts).handlers()
	return ValidatingHandlers{
		VolumeSnapshots:        instrument(reviewKindSnapshot, h.VolumeSnapshots),
		VolumeSnapshotContents: instrument(reviewKindContent, h.VolumeSnapshotContents),
		VolumeSnapshotClasses:  instrument(reviewKindClass, h.VolumeSnapshotClasses),
		PersistentVolumeClaims: instrument(reviewKindPVC, h.PersistentVolumeClaims),
	}
}

// MutatingHandlers holds the handlers for the mutate paths (#4), counted in the
// admission metrics like the validating ones.
type MutatingHandlers struct {
	VolumeSnapshots        admission.Handler // PathMutateVolumeSnapshots
	PersistentVolumeClaims admission.Handler // PathMutatePVCs
}

// NewMutatingHandlers builds the handlers on mgr: reads go through mgr's cache, creates
// through its client (writes are never cached), and the re-read after AlreadyExists through
// mgr.GetAPIReader(). The scheme must know snapshot.storage.k8s.io/v1 and core/v1.
func NewMutatingHandlers(mgr manager.Manager, opts HandlerOptions) MutatingHandlers {
	opts.SetDefaults()
	store := apiObjects{cache: mgr.GetClient(), live: mgr.GetAPIReader(), writer: mgr.GetClient()}
	var populateUnless []string // nil: every annotated claim gets a VolumeSnapshot
	if opts.Populate {
		populateUnless = opts.LonghornDrivers
	}
	return MutatingHandlers{
		VolumeSnapshots: instrument(reviewKindSnapshot, newMutatingHandler(volumeSnapshotGK,
			&snapshotMutation{store: store, defaultDriver: opts.DefaultDriver, canonical: canonicalHandle, backups: opts.Backups},
			func() *snapv1.VolumeSnapshot { return &snapv1.VolumeSnapshot{} })),
		PersistentVolumeClaims: instrument(reviewKindPVC, newMutatingHandler(persistentVolumeClaimGK,
			&pvcMutation{store: store, defaultDriver: opts.DefaultDriver, canonical: canonicalHandle, backups: opts.Backups,
				longhorn: populateUnless},
			func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} })),
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
