package chart

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// volumePopulator is populator.storage.k8s.io/v1beta1 VolumePopulator (the
// volume-data-source-validator's registration), typed here so the render's
// strict decode checks its fields; no Go module of the project ships it.
type volumePopulator struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	SourceKind        metav1.GroupKind `json:"sourceKind"`
}

func (v *volumePopulator) DeepCopyObject() runtime.Object {
	out := *v
	v.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return &out
}

func addVolumePopulator(s *runtime.Scheme) error {
	gv := schema.GroupVersion{Group: "populator.storage.k8s.io", Version: "v1beta1"}
	s.AddKnownTypeWithName(gv.WithKind("VolumePopulator"), &volumePopulator{})
	return nil
}
