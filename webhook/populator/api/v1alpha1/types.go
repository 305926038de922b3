package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group, Version and Kind of a BackupSource, as a PVC's dataSourceRef names it.
const (
	Group   = "snaprestore.io"
	Version = "v1alpha1"
	Kind    = "BackupSource"
)

// GroupVersion is snaprestore.io/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// AddToScheme registers BackupSource and BackupSourceList in a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &BackupSource{}, &BackupSourceList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Phase is where the population of the PVCs naming a BackupSource stands.
type Phase string

// Phases of a BackupSource.
const (
	// PhasePending: no PVC populated from it yet, or waiting (missing backup
	// store credentials, WaitForFirstConsumer, a retry backoff).
	PhasePending Phase = "Pending"
	// PhasePopulating: a populator pod is writing a volume.
	PhasePopulating Phase = "Populating"
	// PhaseSucceeded: the last population finished verified and was bound.
	PhaseSucceeded Phase = "Succeeded"
	// PhaseFailed: the population cannot succeed without a change (a damaged
	// or missing backup, an unsupported volume mode); not retried.
	PhaseFailed Phase = "Failed"
)

// BackupSource names one Longhorn backup to populate PVCs from.
type BackupSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackupSourceSpec   `json:"spec"`
	Status BackupSourceStatus `json:"status,omitempty"`
}

// BackupSourceSpec is what to restore. It is immutable once created.
type BackupSourceSpec struct {
	// Backup is a backup reference in the grammar of docs/handles.md:
	// bak://<volume>/<backup>, bs://<volume>/<backup>, <volume>/<backup> or a
	// Longhorn UI backup URL.
	Backup string `json:"backup"`
	// BackupstoreSecretRef names a Secret in the BackupSource's namespace with
	// the backupstore URL (key BACKUPSTORE) and its S3 settings (AWS_* keys),
	// overriding the release's backupstore. Default: the release's. The
	// webhook admits a BackupSource naming one only if its creator may get it.
	BackupstoreSecretRef *LocalObjectReference `json:"backupstoreSecretRef,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name"`
}

// BackupSourceStatus is the progress of the latest population.
type BackupSourceStatus struct {
	// Phase is Pending, Populating, Succeeded or Failed.
	Phase Phase `json:"phase,omitempty"`
	// Progress is the restored share of the backup, "0%" to "100%".
	Progress string `json:"progress,omitempty"`
	// RestoredBytes and TotalBytes are the logical bytes of the blocks
	// restored so far and in all.
	RestoredBytes int64 `json:"restoredBytes,omitempty"`
	TotalBytes    int64 `json:"totalBytes,omitempty"`
	// Message says what happened last, naming the PVC, and for a failure
	// what was wrong and where.
	Message string `json:"message,omitempty"`
	// Conditions: Populated (True when the latest PVC is bound with the data).
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ConditionPopulated is the condition type set when a PVC is populated.
const ConditionPopulated = "Populated"

// BackupSourceList is a list of BackupSources.
type BackupSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupSource `json:"items"`
}
