package chart

import (
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func yamlUnmarshal(b []byte, v any) error { return yaml.Unmarshal(b, v) }

func selectorString(t *testing.T, s *metav1.LabelSelector) string {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Fatalf("namespaceSelector %+v: %v", s, err)
	}
	return sel.String()
}

func ptrName(c *cmv1.Certificate) *string {
	if c == nil {
		return nil
	}
	return &c.Name
}

func ptrSecret(c *cmv1.Certificate) *string {
	if c == nil {
		return nil
	}
	return &c.Spec.SecretName
}

// volumeSecret is the Secret behind the named volume of the Deployment's pod.
func volumeSecret(d *appsv1.Deployment, volume string) string {
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == volume && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	return ""
}

func mountPath(c corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}
