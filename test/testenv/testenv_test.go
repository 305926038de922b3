package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

func TestAssetsSaysWhatIsMissing(t *testing.T) {
	t.Setenv("KUBEBUILDER_ASSETS", "")
	if _, err := Assets(""); err == nil || !strings.Contains(err.Error(), "KUBEBUILDER_ASSETS is not set") {
		t.Errorf("Assets(\"\") without KUBEBUILDER_ASSETS: got %v, want an error saying it is not set", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Assets(dir, "kubectl")
	if err == nil {
		t.Fatalf("Assets(%s) with only etcd: no error", dir)
	}
	for _, want := range []string{"kube-apiserver not found in " + dir, "kubectl not found in " + dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Assets error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "etcd not found") {
		t.Errorf("Assets error %q names etcd, which is there", err)
	}
}

func TestCopyTree(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := CopyTree(t, src)
	got, err := os.ReadFile(filepath.Join(dst, "a", "b", "f"))
	if err != nil || string(got) != "data" {
		t.Fatalf("copied a/b/f = %q, %v; want \"data\"", got, err)
	}
	if err := os.WriteFile(filepath.Join(dst, "a", "b", "f"), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if orig, _ := os.ReadFile(filepath.Join(src, "a", "b", "f")); string(orig) != "data" {
		t.Errorf("damaging the copy changed the source: %q", orig)
	}
	// sha256("data")
	if sum := FileSHA256(t, filepath.Join(src, "a", "b", "f")); sum != "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7" {
		t.Errorf("FileSHA256 = %s", sum)
	}
}

// TestStart starts the control plane with the snapshot CRDs and a manager, and
// creates a VolumeSnapshot through the scheme of NewScheme.
func TestStart(t *testing.T) {
	env := Start(t, Options{SnapshotCRDs: true})
	found := false
	for _, crd := range env.CRDs {
		found = found || crd.Name == "volumesnapshots.snapshot.storage.k8s.io"
	}
	if !found {
		t.Fatalf("CRD volumesnapshots.snapshot.storage.k8s.io was not installed (%d CRDs)", len(env.CRDs))
	}
	scheme := NewScheme()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	RunManager(t, mgr)
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	class := "c"
	snap := &snapv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: corev1.NamespaceDefault},
		Spec:       snapv1.VolumeSnapshotSpec{VolumeSnapshotClassName: &class, Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: &class}},
	}
	if err := c.Create(context.Background(), snap); err != nil {
		t.Fatalf("create VolumeSnapshot: %v", err)
	}
	if !mgr.GetCache().WaitForCacheSync(context.Background()) {
		t.Fatal("manager cache did not sync")
	}
}

// fatalRecorder records the Fatalf of Start and ends its goroutine as testing.T does.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartFailsWithoutAssets(t *testing.T) {
	t.Setenv("KUBEBUILDER_ASSETS", "")
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(rec, Options{SnapshotCRDs: true})
		t.Error("Start returned without KUBEBUILDER_ASSETS; want it to fail the test")
	}()
	<-done
	if !strings.Contains(rec.fatal, "KUBEBUILDER_ASSETS is not set") {
		t.Errorf("Start failed with %q; want it to say KUBEBUILDER_ASSETS is not set", rec.fatal)
	}
}
