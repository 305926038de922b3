package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// validateEnv is a real kube-apiserver with the snapshot CRDs and the validating webhooks
// of NewValidatingHandlers, served by an in-process controller-runtime server.
type validateEnv struct {
	client   client.Client
	warnings *warningRecorder
}

func startValidateEnv(t *testing.T) *validateEnv {
	t.Helper()
	scheme := testenv.NewScheme()
	ctrl.SetLogger(logr.Discard())
	mgr, env := startWebhookEnv(t, scheme, envtest.WebhookInstallOptions{
		ValidatingWebhooks: []*admissionregv1.ValidatingWebhookConfiguration{testValidatingConfig()},
	})
	registerValidating(mgr.GetWebhookServer(), NewValidatingHandlers(mgr, HandlerOptions{Backups: fakeBackups{"backup-big": 3 << 30}}))
	runManager(t, mgr)
	e := &validateEnv{warnings: &warningRecorder{}}
	userCfg := rest.CopyConfig(env.Config)
	userCfg.WarningHandler = e.warnings
	var err error
	if e.client, err = client.New(userCfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatalf("client: %v", err)
	}
	return e
}

// startWebhookEnv starts a kube-apiserver with the snapshot CRDs and the given webhook
// configurations, and returns a manager (not started yet) whose webhook server is the
// one they call.
func startWebhookEnv(t *testing.T, scheme *runtime.Scheme, hooks envtest.WebhookInstallOptions) (manager.Manager, *testenv.Env) {
	t.Helper()
	env := testenv.Start(t, testenv.Options{Scheme: scheme, SnapshotCRDs: true, Webhooks: hooks})
	wo := &env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:        scheme,
		Metrics:       metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir}),
	})
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	return mgr, env
}

// runManager starts mgr until the test ends and waits for its webhook server.
func runManager(t *testing.T, mgr manager.Manager) {
	t.Helper()
	runUntilCleanup(t, mgr.Start, mgr.GetWebhookServer().StartedChecker())
}

// runUntilCleanup runs start until the test ends, fails the test if it returns an
// error, and waits until started reports success.
func runUntilCleanup(t *testing.T, start func(context.Context) error, started healthz.Checker) {
	t.Helper()
	testenv.Run(t, start)
	testenv.Poll(t, "webhook server started", func() bool { return started(&http.Request{}) == nil })
}

// registerValidating serves h on the validate paths.
func registerValidating(srv webhook.Server, h ValidatingHandlers) {
	srv.Register(PathValidateVolumeSnapshots, &webhook.Admission{Handler: h.VolumeSnapshots})
	srv.Register(PathValidateVolumeSnapshotContents, &webhook.Admission{Handler: h.VolumeSnapshotContents})
	srv.Register(PathValidateVolumeSnapshotClasses, &webhook.Admission{Handler: h.VolumeSnapshotClasses})
	srv.Register(PathValidatePVCs, &webhook.Admission{Handler: h.PersistentVolumeClaims})
}

func testValidatingConfig() *admissionregv1.ValidatingWebhookConfiguration {
	hook := func(resource, path string, groups ...string) admissionregv1.ValidatingWebhook {
		return admissionregv1.ValidatingWebhook{
			Name:                    resource + ".validate.snaprestore.io",
			ClientConfig:            admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Name: "x", Namespace: "x", Path: ptr.To(path)}},
			Rules:                   []admissionregv1.RuleWithOperations{webhookRule(resource, groups...)},
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregv1.Fail),
			TimeoutSeconds:          ptr.To[int32](10),
		}
	}
	return &admissionregv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "snaprestore-validating-test"},
		Webhooks: []admissionregv1.ValidatingWebhook{
			hook("volumesnapshots", PathValidateVolumeSnapshots, snapv1.GroupName),
			hook("volumesnapshotcontents", PathValidateVolumeSnapshotContents, snapv1.GroupName),
			hook("volumesnapshotclasses", PathValidateVolumeSnapshotClasses, snapv1.GroupName),
			hook("persistentvolumeclaims", PathValidatePVCs, ""),
		},
	}
}

// denied is the message kubectl and typed clients show for a denial of webhook hook.
func denied(hook, kind, name, cause string) string {
	return fmt.Sprintf("admission webhook %q denied the request: %s %q is invalid: %s", hook+".validate.snaprestore.io", kind, name, cause)
}

func envContent(name, namespace, snapshot, driver, handle string) *snapv1.VolumeSnapshotContent {
	return &snapv1.VolumeSnapshotContent{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: snapv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef: corev1.ObjectReference{Namespace: namespace, Name: snapshot},
			DeletionPolicy:    snapv1.VolumeSnapshotContentRetain,
			Driver:            driver,
			Source:            snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To(handle)},
		},
	}
}

func envSnapshot(namespace, name, content string) *snapv1.VolumeSnapshot {
	return &snapv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{VolumeSnapshotContentName: ptr.To(content)}},
	}
}

func envPVC(namespace, name, snapshot, storageClass, request string) *corev1.PersistentVolumeClaim {
	p := rulePVC(snapshot, request, func(p *corev1.PersistentVolumeClaim) {
		p.Spec.StorageClassName = ptr.To(storageClass)
		p.Spec.DataSourceRef = nil // the API server fills it from dataSource
	})
	p.Namespace, p.Name = namespace, name
	return p
}

// TestValidatingWebhookOnAPIServer runs the cross-object rules through a real API server,
// each right after the object it depends on was created (the cache may not have it yet).
func TestValidatingWebhookOnAPIServer(t *testing.T) {
	t.Parallel()
	f := validateFixture{e: startValidateEnv(t)}
	testValidatingBindings(t, f)
	testValidatingSizes(t, f)
	testValidatingCEL(t, f)
}

// validateFixture is the validating webhook's API server and the helpers its cases share.
type validateFixture struct{ e *validateEnv }

func (f validateFixture) mustCreate(t *testing.T, obj client.Object) {
	t.Helper()
	if err := f.e.client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func (f validateFixture) wantDenied(t *testing.T, obj client.Object, want string) {
	t.Helper()
	err := f.e.client.Create(context.Background(), obj)
	if err == nil {
		t.Fatalf("create %T %s: allowed, want denied with %s", obj, obj.GetName(), want)
	}
	if err.Error() != want {
		t.Errorf("create %T %s:\n got %s\nwant %s", obj, obj.GetName(), err, want)
	}
}

func (f validateFixture) namespace(t *testing.T, name string) string {
	t.Helper()
	f.mustCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	return name
}

func testValidatingBindings(t *testing.T, f validateFixture) {
	e := f.e
	ctx := context.Background()
	const lh = DefaultLonghornDriver
	t.Run("content ref pointing elsewhere", func(t *testing.T) {
		ns := f.namespace(t, "v-binding")
		f.mustCreate(t, envContent("v-elsewhere", "other", "snap-x", lh, "bak://vol-a/backup-1"))
		f.wantDenied(t, envSnapshot(ns, "restore-1", "v-elsewhere"), denied("volumesnapshots", "VolumeSnapshot", "restore-1",
			`spec.source.volumeSnapshotContentName: Invalid value: "v-elsewhere": VolumeSnapshotContent "v-elsewhere" has spec.volumeSnapshotRef other/snap-x, but this VolumeSnapshot is v-binding/restore-1, so the two never bind; expected a content whose spec.volumeSnapshotRef is namespace "v-binding", name "restore-1"`))
		f.mustCreate(t, envContent("v-here", ns, "restore-2", lh, "bak://vol-a/backup-1"))
		e.warnings.take()
		f.mustCreate(t, envSnapshot(ns, "restore-2", "v-here"))
		f.mustCreate(t, envSnapshot(ns, "restore-3", "v-later"))
		want := []string{`spec.source.volumeSnapshotContentName: VolumeSnapshotContent "v-later" does not exist yet; the snapshot stays unbound until it is created with spec.volumeSnapshotRef v-binding/restore-3`}
		if got := e.warnings.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("warnings = %q, want %q", got, want)
		}
	})

	t.Run("second default class per driver", func(t *testing.T) {
		class := func(name string) *snapv1.VolumeSnapshotClass {
			return ruleClass(name, "envtest.csi.example.com", true, nil)
		}
		f.mustCreate(t, class("v-default-1"))
		f.wantDenied(t, class("v-default-2"), denied("volumesnapshotclasses", "VolumeSnapshotClass", "v-default-2",
			`metadata.annotations[snapshot.storage.kubernetes.io/is-default-class]: Forbidden: driver "envtest.csi.example.com" already has the default VolumeSnapshotClass "v-default-1"; expected at most one default class per driver: remove the annotation here or there`))
		// The default itself can still be updated.
		var c snapv1.VolumeSnapshotClass
		if err := e.client.Get(ctx, client.ObjectKey{Name: "v-default-1"}, &c); err != nil {
			t.Fatal(err)
		}
		c.Labels = map[string]string{"team": "storage"}
		if err := e.client.Update(ctx, &c); err != nil {
			t.Errorf("update of the default class: %v", err)
		}
	})

	t.Run("StorageClass provisioner vs content driver", func(t *testing.T) {
		ns := f.namespace(t, "v-driver")
		f.mustCreate(t, envContent("v-driver-content", ns, "snap", lh, "bak://vol-a/backup-1"))
		f.mustCreate(t, envSnapshot(ns, "snap", "v-driver-content"))
		f.mustCreate(t, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "v-hostpath"}, Provisioner: "hostpath.csi.k8s.io"})
		f.wantDenied(t, envPVC(ns, "restored", "snap", "v-hostpath", "1Gi"), denied("persistentvolumeclaims", "PersistentVolumeClaim", "restored",
			`spec.storageClassName: Invalid value: "v-hostpath": StorageClass "v-hostpath" has provisioner "hostpath.csi.k8s.io", but VolumeSnapshot v-driver/snap is of VolumeSnapshotContent "v-driver-content" with driver "driver.longhorn.io"; expected a StorageClass whose provisioner is "driver.longhorn.io"`))
		f.mustCreate(t, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "v-longhorn"}, Provisioner: lh})
		f.mustCreate(t, envPVC(ns, "restored", "snap", "v-longhorn", "1Gi"))
	})

	t.Run("request below restoreSize", func(t *testing.T) {
		ns := f.namespace(t, "v-size")
		f.mustCreate(t, envContent("v-size-content", ns, "sized", lh, "bak://vol-a/backup-1"))
		snap := envSnapshot(ns, "sized", "v-size-content")
		f.mustCreate(t, snap)
		snap.Status = &snapv1.VolumeSnapshotStatus{RestoreSize: ptr.To(resource.MustParse("2Gi"))}
		if err := e.client.Status().Update(ctx, snap); err != nil {
			t.Fatalf("set restoreSize: %v", err)
		}
		f.wantDenied(t, envPVC(ns, "small", "sized", "v-longhorn", "1Gi"), denied("persistentvolumeclaims", "PersistentVolumeClaim", "small",
			`spec.resources.requests[storage]: Invalid value: "1Gi": below the restore size 2Gi of VolumeSnapshot v-size/sized; expected at least 2Gi`))
		f.mustCreate(t, envPVC(ns, "big-enough", "sized", "v-longhorn", "2Gi"))

		// Before the snapshot controller fills restoreSize, the backup's size counts.
		f.mustCreate(t, envContent("v-backup-content", ns, "backup", lh, "bak://vol-a/backup-big"))
		f.mustCreate(t, envSnapshot(ns, "backup", "v-backup-content"))
		f.wantDenied(t, envPVC(ns, "small-backup", "backup", "v-longhorn", "1Gi"), denied("persistentvolumeclaims", "PersistentVolumeClaim", "small-backup",
			`spec.resources.requests[storage]: Invalid value: "1Gi": below the size 3Gi of backup bak://vol-a/backup-big that VolumeSnapshot v-size/backup restores; expected at least 3Gi`))
	})
}

func testValidatingSizes(t *testing.T, f validateFixture) {
	e := f.e
	ctx := context.Background()
	const lh = DefaultLonghornDriver
	t.Run("content of a missing backup and of a missing class", func(t *testing.T) {
		f.wantDenied(t, envContent("v-missing", "apps", "s", lh, "bak://vol-a/backup-missing"), denied("volumesnapshotcontents", "VolumeSnapshotContent", "v-missing",
			`spec.source.snapshotHandle: Invalid value: "bak://vol-a/backup-missing": backup "backup-missing" of volume "vol-a" does not exist in the backupstore`))
		c := envContent("v-classless", "apps", "s", lh, "bak://vol-a/backup-1")
		c.Spec.VolumeSnapshotClassName = ptr.To("v-no-such-class")
		f.wantDenied(t, c, denied("volumesnapshotcontents", "VolumeSnapshotContent", "v-classless",
			`spec.volumeSnapshotClassName: Invalid value: "v-no-such-class": VolumeSnapshotClass "v-no-such-class" does not exist; expected the name of a VolumeSnapshotClass of driver "driver.longhorn.io"`))
	})

	t.Run("per-object rules print what the CRDs' CEL rules print", func(t *testing.T) {
		ns := f.namespace(t, "v-cel")
		// Each object fails a CEL rule, so the API server rejects it before any webhook;
		// the webhook's own verdict on it must read the same.
		both := envSnapshot(ns, "both", "c")
		both.Spec.Source.PersistentVolumeClaimName = ptr.To("data")
		emptyClass := envSnapshot(ns, "empty-class", "c")
		emptyClass.Spec.VolumeSnapshotClassName = ptr.To("")
		noHandle := envContent("v-cel-no-handle", ns, "s", "hostpath.csi.k8s.io", "h")
		noHandle.Spec.Source = snapv1.VolumeSnapshotContentSource{}
		noNamespace := envContent("v-cel-no-namespace", "", "s", "hostpath.csi.k8s.io", "h")
		for _, obj := range []client.Object{both, emptyClass, noHandle, noNamespace} {
			errs, _, _ := NewRules(factStore{}, HandlerOptions{}).Validate(ctx, obj, nil)
			if len(errs) == 0 {
				t.Errorf("%s: the rules allow it", obj.GetName())
				continue
			}
			err := e.client.Create(ctx, obj.DeepCopyObject().(client.Object))
			if err == nil {
				t.Errorf("%s: the API server allowed it", obj.GetName())
				continue
			}
			for _, cause := range errs {
				if !strings.Contains(err.Error(), cause.Error()) {
					t.Errorf("%s: the API server says\n  %s\nwhich lacks the rule's\n  %s", obj.GetName(), err, cause.Error())
				}
			}
		}
		// An UPDATE that changes the content name.
		snap := envSnapshot(ns, "moved", "v-cel-first")
		f.mustCreate(t, snap)
		old := snap.DeepCopy()
		snap.Spec.Source.VolumeSnapshotContentName = ptr.To("v-cel-second")
		errs, _, _ := NewRules(factStore{}, HandlerOptions{}).Validate(ctx, snap, old)
		err := e.client.Update(ctx, snap)
		if len(errs) != 1 || err == nil || !strings.Contains(err.Error(), errs[0].Error()) {
			t.Errorf("update: rules say %v, the API server %v", errs, err)
		}
	})
}

func testValidatingCEL(t *testing.T, f validateFixture) {
	e := f.e
	ctx := context.Background()
	const lh = DefaultLonghornDriver
	t.Run("cache misses are confirmed live, hits are not", func(t *testing.T) {
		ns := f.namespace(t, "v-cache")
		f.mustCreate(t, envContent("v-cache-content", ns, "s", lh, "bak://vol-a/backup-1"))
		f.mustCreate(t, ruleClass("v-cache-default", "cache.csi.example.com", true, nil))
		live := &countingReader{Reader: e.client}
		lagging := newCachedObjects(notCachedYet{}, live)
		if _, p := lagging.Content(ctx, "v-cache-content"); p != Found || live.reads != 1 {
			t.Errorf("content behind a lagging cache: %s after %d live reads, want found after 1", p, live.reads)
		}
		if _, p := lagging.Content(ctx, "v-cache-nothing"); p != Missing || live.reads != 2 {
			t.Errorf("content that does not exist: %s after %d live reads, want missing after 2", p, live.reads)
		}
		if names, complete := lagging.DefaultClasses(ctx, "cache.csi.example.com"); !complete || len(names) != 1 || live.reads != 3 {
			t.Errorf("default classes behind a lagging cache: %v (complete %v) after %d live reads, want [v-cache-default] after 3", names, complete, live.reads)
		}
		live.reads = 0
		current := newCachedObjects(e.client, live)
		if _, p := current.Content(ctx, "v-cache-content"); p != Found {
			t.Errorf("content in the cache: %s, want found", p)
		}
		if names, _ := current.DefaultClasses(ctx, "cache.csi.example.com"); len(names) != 1 {
			t.Errorf("default classes in the cache: %v, want [v-cache-default]", names)
		}
		if live.reads != 0 {
			t.Errorf("%d live reads for objects the cache has, want 0", live.reads)
		}
	})
}

// notCachedYet is a cache that has not seen anything yet.
type notCachedYet struct{}

func (notCachedYet) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", obj)}, key.Name)
}

func (notCachedYet) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

// countingReader counts the reads it passes on.
type countingReader struct {
	client.Reader
	reads int
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.reads++
	return c.Reader.Get(ctx, key, obj, opts...)
}

func (c *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.reads++
	return c.Reader.List(ctx, list, opts...)
}
