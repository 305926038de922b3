package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Hand-written: four small types do not justify a controller-gen tool module.

// DeepCopyInto copies s into out.
func (s *BackupSource) DeepCopyInto(out *BackupSource) {
	*out = *s
	out.TypeMeta = s.TypeMeta
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	s.Spec.DeepCopyInto(&out.Spec)
	s.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a copy of s.
func (s *BackupSource) DeepCopy() *BackupSource {
	if s == nil {
		return nil
	}
	out := new(BackupSource)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (s *BackupSource) DeepCopyObject() runtime.Object { return s.DeepCopy() }

// DeepCopyInto copies s into out.
func (s *BackupSourceSpec) DeepCopyInto(out *BackupSourceSpec) {
	*out = *s
	if s.BackupstoreSecretRef != nil {
		ref := *s.BackupstoreSecretRef
		out.BackupstoreSecretRef = &ref
	}
}

// DeepCopyInto copies s into out.
func (s *BackupSourceStatus) DeepCopyInto(out *BackupSourceStatus) {
	*out = *s
	if s.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(s.Conditions))
		for i := range s.Conditions {
			s.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

// DeepCopyInto copies l into out.
func (l *BackupSourceList) DeepCopyInto(out *BackupSourceList) {
	*out = *l
	out.TypeMeta = l.TypeMeta
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]BackupSource, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of l.
func (l *BackupSourceList) DeepCopy() *BackupSourceList {
	if l == nil {
		return nil
	}
	out := new(BackupSourceList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *BackupSourceList) DeepCopyObject() runtime.Object { return l.DeepCopy() }
