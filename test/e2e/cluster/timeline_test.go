package cluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestTimeline: changes are listed in order after the origin's first event,
// an update that changes nothing shown is left out, and a deletion shows.
func TestTimeline(t *testing.T) {
	tl := &timeline{cancel: func() {}, last: map[string]string{}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "sys", Name: "populate-1"}}
	tl.record(watch.Event{Type: watch.Added, Object: pod}) // before the origin
	tl.record(watch.Event{Type: watch.Added, Object: pvc})
	tl.record(watch.Event{Type: watch.Modified, Object: pvc}) // nothing shown changed
	running := pod.DeepCopy()
	running.Spec.NodeName, running.Status.Phase = "node-1", corev1.PodRunning
	running.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	tl.record(watch.Event{Type: watch.Modified, Object: running})
	bound := pvc.DeepCopy()
	bound.Status.Phase, bound.Spec.VolumeName = corev1.ClaimBound, "pv-1"
	tl.record(watch.Event{Type: watch.Modified, Object: bound})
	tl.record(watch.Event{Type: watch.Deleted, Object: running})
	tl.record(watch.Event{Type: watch.Added, Object: &corev1.ConfigMap{}}) // not watched

	lines := strings.Split(strings.TrimSpace(tl.stop("pvc ns/data")), "\n")
	want := []string{
		"pod sys/populate-1:  node= containers=[]",
		"pvc ns/data:  volume= finalizers=0",
		"pod sys/populate-1: Running node=node-1 containers=[running]",
		"pvc ns/data: Bound volume=pv-1 finalizers=0",
		"pod sys/populate-1: deleted",
	}
	if len(lines) != len(want) {
		t.Fatalf("timeline:\n%s\nwant %d lines", strings.Join(lines, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], "ms  "+w) {
			t.Errorf("line %d: %q, want it to end in %q", i, lines[i], w)
		}
	}
	if !strings.HasPrefix(strings.TrimSpace(lines[1]), "+0.0 ms") {
		t.Errorf("the origin's first event is at %q, want +0.0 ms", lines[1])
	}
}
