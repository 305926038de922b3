package nodeagent_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/snaprestore/snaprestore/test/nodeagent"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// A populator end-to-end test starts the agent on its control plane, creates
// claims in nodeagent.ImmediateClass or nodeagent.WFCClass, and reads the restored
// data from the PV's backing file.
func ExampleStartTest() {
	var t testing.TB // the test's *testing.T
	env := testenv.Start(t, testenv.Options{})
	c := nodeagent.StartTest(t, env.Config, nodeagent.Options{
		Images: map[string]string{"snaprestore:e2e": "/path/to/bin/snaprestore", "busybox": "/bin/sh"},
	})
	// ... create a PVC of class nodeagent.WFCClass and a pod using it ...
	var pvc corev1.PersistentVolumeClaim
	image, err := c.PVPath(context.Background(), pvc.Spec.VolumeName)
	_, _ = image, err
	_ = c.Kill("populator-ns", "populate-xyz") // SIGKILL mid-restore; the restart policy applies
}
