package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// Test-only webhooks registered next to the mutating ones: one rejects snapshots after
// mutation (to make orphans), one edits snapshots after snaprestore did (to force
// reinvocation).
const (
	labelReject   = "test.snaprestore.io/reject"
	labelReinvoke = "test.snaprestore.io/reinvoke"
	labelTouched  = "test.snaprestore.io/touched"
	testGrace     = 2 * time.Second
)

// mutateEnv is a real kube-apiserver with the snapshot CRDs, the mutating webhooks served
// by an in-process controller-runtime server, and the orphan GC running.
type mutateEnv struct {
	cfg        *rest.Config
	kubeconfig []byte
	scheme     *runtime.Scheme
	client     client.Client
	creates    *createCounter
	calls      *createCounter // admission calls per snapshot name
}

// createCounter counts successful creates (or calls) per object name.
type createCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *createCounter) inc(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[name]++
}

func (c *createCounter) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// fakeBackups is a Backups fake below the API boundary: restore sizes by backup name;
// backup-missing does not exist in the backupstore, backup-unreachable cannot be
// checked; any other backup is restorable, of unknown size.
type fakeBackups map[string]int64

func (f fakeBackups) Facts(_ context.Context, ref restore.Reference) BackupFacts {
	switch ref.Backup {
	case "backup-missing":
		return BackupFacts{Problem: fmt.Sprintf("backup %q of volume %q does not exist in the backupstore", ref.Backup, ref.Volume)}
	case "backup-unreachable":
		return BackupFacts{Unreachable: errors.New("connection refused")}
	}
	return BackupFacts{VolumeSize: f[ref.Backup]}
}

func startMutateEnv(t *testing.T) *mutateEnv {
	t.Helper()
	logger := testenv.Logger()
	ctrl.SetLogger(logger)
	scheme := testenv.NewScheme()
	mgr, env := startWebhookEnv(t, scheme, envtest.WebhookInstallOptions{
		MutatingWebhooks:   []*admissionregv1.MutatingWebhookConfiguration{testMutatingConfig()},
		ValidatingWebhooks: []*admissionregv1.ValidatingWebhookConfiguration{testRejectConfig()},
	})
	cfg := env.Config
	e := &mutateEnv{cfg: cfg, kubeconfig: env.KubeConfig, scheme: scheme, creates: &createCounter{n: map[string]int{}}, calls: &createCounter{n: map[string]int{}}}
	direct, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	writer := interceptor.NewClient(direct, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			err := c.Create(ctx, obj, opts...)
			if err == nil {
				e.creates.inc(obj.GetName())
			}
			return err
		},
	})
	store := apiObjects{cache: mgr.GetClient(), live: mgr.GetAPIReader(), writer: writer}
	backups := fakeBackups{"backup-big": 3 << 30}
	snapHandler := newMutatingHandler(volumeSnapshotGK, &snapshotMutation{store: store, defaultDriver: "driver.longhorn.io", canonical: canonicalHandle, backups: backups},
		func() *snapv1.VolumeSnapshot { return &snapv1.VolumeSnapshot{} })
	srv := mgr.GetWebhookServer()
	srv.Register("/mutate/volumesnapshots", &webhook.Admission{Handler: admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		e.calls.inc(req.Namespace + "/" + req.Name)
		return snapHandler.Handle(ctx, req)
	})})
	srv.Register("/mutate/persistentvolumeclaims", &webhook.Admission{Handler: newMutatingHandler(persistentVolumeClaimGK,
		&pvcMutation{store: store, defaultDriver: "driver.longhorn.io", canonical: canonicalHandle, backups: backups},
		func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} })})
	srv.Register("/test/touch", &webhook.Admission{Handler: admission.HandlerFunc(touchSnapshot)})
	srv.Register("/test/reject", &webhook.Admission{Handler: admission.HandlerFunc(rejectAll)})
	if err := addGC(mgr, testGrace, clock.RealClock{}); err != nil {
		t.Fatalf("add GC: %v", err)
	}
	runManager(t, mgr)
	if e.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatalf("client: %v", err)
	}
	return e
}

func testMutatingConfig() *admissionregv1.MutatingWebhookConfiguration {
	hook := func(name, path, resource string, groups ...string) admissionregv1.MutatingWebhook {
		return admissionregv1.MutatingWebhook{
			Name:                    name,
			ClientConfig:            admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Name: "x", Namespace: "x", Path: ptr.To(path)}},
			Rules:                   []admissionregv1.RuleWithOperations{webhookRule(resource, groups...)},
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNoneOnDryRun),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregv1.Fail),
			ReinvocationPolicy:      ptr.To(admissionregv1.IfNeededReinvocationPolicy),
			TimeoutSeconds:          ptr.To[int32](5),
		}
	}
	touchHook := hook("touch.test.snaprestore.io", "test/touch", "volumesnapshots", snapv1.GroupName)
	touchHook.SideEffects = ptr.To(admissionregv1.SideEffectClassNone)
	touchHook.ReinvocationPolicy = ptr.To(admissionregv1.NeverReinvocationPolicy)
	return &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "snaprestore-mutating-test"},
		Webhooks: []admissionregv1.MutatingWebhook{
			hook("volumesnapshots.mutate.snaprestore.io", "mutate/volumesnapshots", "volumesnapshots", snapv1.GroupName),
			hook("persistentvolumeclaims.mutate.snaprestore.io", "mutate/persistentvolumeclaims", "persistentvolumeclaims", ""),
			touchHook,
		},
	}
}

func testRejectConfig() *admissionregv1.ValidatingWebhookConfiguration {
	return &admissionregv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "snaprestore-reject-test"},
		Webhooks: []admissionregv1.ValidatingWebhook{{
			Name:                    "reject.test.snaprestore.io",
			ClientConfig:            admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Name: "x", Namespace: "x", Path: ptr.To("test/reject")}},
			Rules:                   []admissionregv1.RuleWithOperations{webhookRule("volumesnapshots", snapv1.GroupName)},
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregv1.Fail),
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{labelReject: "true"}},
		}},
	}
}

func webhookRule(resource string, groups ...string) admissionregv1.RuleWithOperations {
	return admissionregv1.RuleWithOperations{
		Operations: []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update},
		Rule:       admissionregv1.Rule{APIGroups: groups, APIVersions: []string{"*"}, Resources: []string{resource}},
	}
}

// touchSnapshot labels snapshots that ask for it, after snaprestore mutated them, which makes the
// API server reinvoke snaprestore's webhook (reinvocationPolicy IfNeeded).
func touchSnapshot(_ context.Context, req admission.Request) admission.Response {
	var snap snapv1.VolumeSnapshot
	if err := admission.NewDecoder(runtime.NewScheme()).DecodeRaw(req.Object, &snap); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation != admissionv1.Create || snap.Labels[labelReinvoke] != "true" || snap.Labels[labelTouched] == "true" {
		return admission.Allowed("")
	}
	raw := req.Object.Raw
	snap.Labels[labelTouched] = "true"
	edited, err := json.Marshal(&snap)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(raw, edited)
}

func rejectAll(context.Context, admission.Request) admission.Response {
	return admission.Denied("rejected by the test")
}

func createNamespace(t *testing.T, e *mutateEnv, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace: %v", err)
	}
	return name
}
