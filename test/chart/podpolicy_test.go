package chart

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// checkPopulatorPodPolicy: with the release installed, a populator pod's
// ServiceAccount token (impersonated, with the pod name the kubelet's
// projected token carries) may set the snaprestore.io/progress and
// snaprestore.io/result annotations of its own pod, and nothing else: not
// another annotation or a label of its pod, not another pod (the chart's
// ValidatingAdmissionPolicy narrowing RBAC's "patch pods").
func checkPopulatorPodPolicy(t *testing.T, s *apiServer) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"populate-a", "populate-b"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Annotations: map[string]string{"kept": "x"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "populate", Image: "snaprestore:e2e"}}}}
		if err := s.client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.client.Delete(ctx, p) })
	}
	cfg := rest.CopyConfig(s.env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: fmt.Sprintf("system:serviceaccount:%s:%s-populator", namespace, release),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
		Extra:    map[string][]string{"authentication.kubernetes.io/pod-name": {"populate-a"}},
	}
	pod, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	patch := func(name, doc string) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		return pod.Patch(ctx, p, client.RawPatch(types.MergePatchType, []byte(doc)))
	}
	for _, c := range []struct {
		name, pod, patch string
		denied           string // a part of the denial; empty: allowed
	}{
		{"progress of its own pod", "populate-a", `{"metadata":{"annotations":{"snaprestore.io/progress":"1/4"}}}`, ""},
		{"result of its own pod", "populate-a", `{"metadata":{"annotations":{"snaprestore.io/result":"{\"succeeded\":true,\"message\":\"restored\"}"}}}`, ""},
		{"another annotation", "populate-a", `{"metadata":{"annotations":{"kept":"y"}}}`, "may change only its snaprestore.io/progress and snaprestore.io/result annotations"},
		{"a new annotation", "populate-a", `{"metadata":{"annotations":{"snaprestore.io/progress":"2/4","new":"z"}}}`, "may change only its"},
		{"removing an annotation", "populate-a", `{"metadata":{"annotations":{"kept":null}}}`, "may change only its"},
		{"a label", "populate-a", `{"metadata":{"labels":{"x":"y"}}}`, "may change only its"},
		{"another pod", "populate-b", `{"metadata":{"annotations":{"snaprestore.io/result":"{}"}}}`, "may patch only its own pod"},
	} {
		err := patch(c.pod, c.patch)
		switch {
		case c.denied == "" && err != nil:
			t.Errorf("%s: %v; expected the patch to be allowed", c.name, err)
		case c.denied != "" && (err == nil || !strings.Contains(err.Error(), c.denied)):
			t.Errorf("%s: %v; expected a denial saying %q", c.name, err, c.denied)
		}
	}
	var a corev1.Pod
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "populate-a"}, &a); err != nil {
		t.Fatal(err)
	}
	if a.Annotations["snaprestore.io/progress"] != "1/4" || a.Annotations["kept"] != "x" || a.Annotations["snaprestore.io/result"] == "" {
		t.Errorf("pod populate-a annotations %v; expected progress 1/4, the result, kept=x", a.Annotations)
	}
}
