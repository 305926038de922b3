package populator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/snaprestore/snaprestore/test/testenv"
	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

const controllerNS = "snaprestore-system"

type env struct {
	c client.Client
}

// startEnv starts the API server with the chart's CRDs and the populator on a
// manager. No kube-controller-manager or kubelet runs: the tests play the PV
// binder and the kubelet by writing the objects' status, which is all the
// controller reads.
func startEnv(t *testing.T) *env {
	t.Helper()
	scheme := testenv.NewScheme(v1alpha1.AddToScheme)
	e := testenv.Start(t, testenv.Options{Scheme: scheme, CRDDirs: []string{filepath.Join("..", "..", "charts", "snaprestore", "crds")}})
	ctrl.SetLogger(testenv.Logger())
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	if err := Add(mgr, Options{Namespace: controllerNS, Image: "snaprestore:test", MaxAttempts: 3, Backoff: 100 * time.Millisecond}); err != nil {
		t.Fatalf("add populator: %v", err)
	}
	testenv.RunManager(t, mgr)
	c, err := client.New(e.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{controllerNS, "team-a"} {
		if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "hostpath"}, Provisioner: "test.snaprestore.io/hostpath"}
	if err := c.Create(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	return &env{c: c}
}

// waitFor polls cond for up to a minute and fails naming what did not happen.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not happen within a minute (last error: %v)", what, last)
}

func (e *env) gone(obj client.Object) func() (bool, error) {
	return func() (bool, error) {
		err := e.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err), err
	}
}

// deleted: gone, or being deleted (the pvc-protection finalizer stays
// without kube-controller-manager).
func (e *env) deleted(obj client.Object) func() (bool, error) {
	return func() (bool, error) {
		err := e.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err) || err == nil && obj.GetDeletionTimestamp() != nil, client.IgnoreNotFound(err)
	}
}

func (e *env) exists(obj client.Object) func() (bool, error) {
	return func() (bool, error) {
		err := e.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return err == nil, err
	}
}

func (e *env) create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := e.c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func blockClaim(name, source string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("hostpath"),
			VolumeMode:       ptr.To(corev1.PersistentVolumeBlock),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
			DataSourceRef:    &corev1.TypedObjectReference{APIGroup: ptr.To(v1alpha1.Group), Kind: v1alpha1.Kind, Name: source},
		},
	}
}

func newSource(name string) *v1alpha1.BackupSource {
	return &v1alpha1.BackupSource{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name},
		Spec: v1alpha1.BackupSourceSpec{Backup: "bak://vol-lz4/backup-a94d0f6e2b1c7358"}}
}

// bindPrime plays the provisioner and PV binder: a PV bound to the prime PVC.
func (e *env) bindPrime(t *testing.T, pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	t.Helper()
	ctx := context.Background()
	prime := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: primeName(pvc)}}
	waitFor(t, "prime PVC created", e.exists(prime))
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-" + pvc.Name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")},
			AccessModes: prime.Spec.AccessModes, VolumeMode: prime.Spec.VolumeMode, StorageClassName: "hostpath",
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + pvc.Name}},
			ClaimRef:               &corev1.ObjectReference{Namespace: controllerNS, Name: prime.Name, UID: prime.UID},
		},
	}
	e.create(t, pv)
	prime.Spec.VolumeName = pv.Name
	if err := e.c.Update(ctx, prime); err != nil {
		t.Fatalf("bind prime: %v", err)
	}
	return pv
}

// finishPod plays the kubelet: the populator pod ends in phase with msg as
// its termination message.
func (e *env) finishPod(t *testing.T, pvc *corev1.PersistentVolumeClaim, phase corev1.PodPhase, code int32, msg string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: podName(pvc)}}
	waitFor(t, "populator pod created", e.exists(pod))
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "populate", Image: pod.Spec.Containers[0].Image, ImageID: "x",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg}}}}
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("finish pod: %v", err)
	}
}

func (e *env) events(t *testing.T, pvc *corev1.PersistentVolumeClaim) string {
	t.Helper()
	var list corev1.EventList
	if err := e.c.List(context.Background(), &list, client.InNamespace(pvc.Namespace)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, ev := range list.Items {
		// One line per occurrence: the recorder folds repeats into a count.
		for i := int32(0); ev.InvolvedObject.Name == pvc.Name && i < max(ev.Count, 1); i++ {
			fmt.Fprintf(&b, "%s %s: %s\n", ev.Type, ev.Reason, ev.Message)
		}
	}
	return b.String()
}

// waitEvents waits until the PVC's events hold every line of want (the
// recorder writes them asynchronously, after the action that made them) and
// returns them; a line still missing after a minute fails the test, naming it.
func (e *env) waitEvents(t *testing.T, pvc *corev1.PersistentVolumeClaim, want ...string) string {
	t.Helper()
	var ev string
	waitFor(t, "the PVC's events", func() (bool, error) {
		ev = e.events(t, pvc)
		for _, w := range want {
			if !strings.Contains(ev, w) {
				return false, fmt.Errorf("events lack %q:\n%s", w, ev)
			}
		}
		return true, nil
	})
	return ev
}

func TestController(t *testing.T) {
	e := startEnv(t)
	t.Run("CRD round trip", func(t *testing.T) { testCRDRoundTrip(t, e) })
	t.Run("populate and rebind", func(t *testing.T) { t.Parallel(); testPopulate(t, e) })
	t.Run("damaged backup", func(t *testing.T) { t.Parallel(); testDamaged(t, e) })
	t.Run("PVC deleted mid-population", func(t *testing.T) { t.Parallel(); testDeleted(t, e) })
	t.Run("missing BackupSource", func(t *testing.T) { t.Parallel(); testMissingSource(t, e) })
	t.Run("killed pod resumes from its record", func(t *testing.T) { t.Parallel(); testResumeRecord(t, e) })
	t.Run("finalizer merged past another writer", func(t *testing.T) { t.Parallel(); testFinalizerMerged(t, e) })
}

// testFinalizerMerged: the PVC's finalizer goes on from a stale copy of the
// claim (another writer annotated it and added a finalizer of its own since)
// without a conflict, keeping both of the other writer's changes; the stale
// copy becomes the claim as stored, and a second call writes nothing.
func testFinalizerMerged(t *testing.T, e *env) {
	ctx := context.Background()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "merge-finalizer"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}}},
	}
	if err := e.c.Create(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	stale := pvc.DeepCopy()
	other := pvc.DeepCopy()
	other.Annotations = map[string]string{"volume.kubernetes.io/storage-provisioner": "example.com/csi"}
	other.Finalizers = append(other.Finalizers, "example.com/other")
	if err := e.c.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := addFinalizerMerged(ctx, e.c, stale); err != nil {
		t.Fatalf("add the finalizer from a stale copy: %v", err)
	}
	var stored corev1.PersistentVolumeClaim
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(pvc), &stored); err != nil {
		t.Fatal(err)
	}
	// A merged list puts the patch's entries first: compare as sets.
	want := slices.Sorted(slices.Values(append(slices.Clone(other.Finalizers), Finalizer)))
	if !slices.Equal(slices.Sorted(slices.Values(stored.Finalizers)), want) || stored.Annotations["volume.kubernetes.io/storage-provisioner"] != "example.com/csi" {
		t.Errorf("stored finalizers %v, annotations %v; want %v and the other writer's annotation", stored.Finalizers, stored.Annotations, want)
	}
	if stale.ResourceVersion != stored.ResourceVersion || !slices.Equal(slices.Sorted(slices.Values(stale.Finalizers)), want) {
		t.Errorf("the patched copy is at %s with %v; want the stored claim, %s with %v", stale.ResourceVersion, stale.Finalizers, stored.ResourceVersion, want)
	}
	if err := addFinalizerMerged(ctx, e.c, stale); err != nil || stale.ResourceVersion != stored.ResourceVersion {
		t.Errorf("second call: %v, resourceVersion %s; want nothing written (%s)", err, stale.ResourceVersion, stored.ResourceVersion)
	}
	stored.Finalizers = nil // let the namespace go
	if err := e.c.Update(ctx, &stored); err != nil {
		t.Fatal(err)
	}
}

// waitPodRecord waits for the populator pod of pvc whose environment carries
// resume record rec ("" for none) and returns it.
func (e *env) waitPodRecord(t *testing.T, pvc *corev1.PersistentVolumeClaim, rec string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: podName(pvc)}}
	got := "no pod"
	waitFor(t, fmt.Sprintf("a populator pod with resume record %.20q", rec), func() (bool, error) {
		if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err
		}
		got = ""
		for _, v := range pod.Spec.Containers[0].Env {
			if v.Name == EnvResumeRecord {
				got = v.Value
			}
		}
		return got == rec && pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodFailed, fmt.Errorf("pod's record %.20q", got)
	})
	return pod
}

// testResumeRecord: a populator pod killed with a progress document in its
// termination message leaves the record on the prime PVC, the next pod gets
// it; a pod killed before it wrote anything leaves the kept record in place.
func testResumeRecord(t *testing.T, e *env) {
	ctx := context.Background()
	src, pvc := newSource("resume"), blockClaim("resume", "resume")
	e.create(t, src, pvc)
	e.bindPrime(t, pvc)
	e.waitPodRecord(t, pvc, "")
	rec := testRecord(12)
	e.finishPod(t, pvc, corev1.PodFailed, 137, progress(rec))
	prime := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: primeName(pvc)}}
	waitFor(t, "the record on the prime PVC", func() (bool, error) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(prime), prime)
		return prime.Annotations[AnnResumeRecord] == rec, err
	})
	e.waitPodRecord(t, pvc, rec)
	// Killed before its first flush: no message; the kept record stands.
	e.finishPod(t, pvc, corev1.PodFailed, 137, "")
	waitFor(t, "the second failure counted", func() (bool, error) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(prime), prime)
		return prime.Annotations[AnnAttempts] == "2", err
	})
	if got := prime.Annotations[AnnResumeRecord]; got != rec {
		t.Errorf("prime PVC record %.30q after a pod without a message; want the kept %.30q", got, rec)
	}
	e.waitPodRecord(t, pvc, rec)
	e.waitEvents(t, pvc,
		"Warning PopulateRetry: populator pod of PVC team-a/resume failed (attempt 1 of 3): the populator pod failed (, exit code 137) while restoring bak://vol/backup-1: 12 of 40 block objects written and synced; retrying in 100ms, resuming from 12 of 40 block objects",
		"Normal PopulatorPodCreated: populator pod for PVC team-a/resume created (attempt 2 of 3), resuming from 12 of 40 block objects",
		"Warning PopulateRetry: populator pod of PVC team-a/resume failed (attempt 2 of 3): the populator pod failed (, exit code 137) without a result; retrying in 200ms, resuming from 12 of 40 block objects",
		"Normal PopulatorPodCreated: populator pod for PVC team-a/resume created (attempt 3 of 3), resuming from 12 of 40 block objects",
	)
}

// testCRDRoundTrip: every field of the Go types survives the CRD schema
// (nothing pruned), and the CEL rules hold.
func testCRDRoundTrip(t *testing.T, e *env) {
	ctx := context.Background()
	src := newSource("round-trip")
	src.Spec.BackupstoreSecretRef = &v1alpha1.LocalObjectReference{Name: "s3-creds"}
	e.create(t, src)
	want := v1alpha1.BackupSourceStatus{Phase: v1alpha1.PhasePopulating, Progress: "42%", RestoredBytes: 42, TotalBytes: 100, Message: "m",
		Conditions: []metav1.Condition{{Type: v1alpha1.ConditionPopulated, Status: metav1.ConditionFalse, Reason: "R", Message: "c",
			LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), ObservedGeneration: 1}}}
	src.Status = want
	if err := e.c.Status().Update(ctx, src); err != nil {
		t.Fatalf("status update: %v", err)
	}
	var got v1alpha1.BackupSource
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(src), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(src.Spec, got.Spec); diff != "" {
		t.Errorf("spec after round trip (-sent +stored):\n%s", diff)
	}
	got.Status.Conditions[0].LastTransitionTime = metav1.NewTime(got.Status.Conditions[0].LastTransitionTime.UTC())
	if diff := cmp.Diff(want, got.Status); diff != "" {
		t.Errorf("status after round trip (-sent +stored):\n%s", diff)
	}
	got.Spec.Backup = "bak://vol-lz4/backup-other"
	if err := e.c.Update(ctx, &got); err == nil || !strings.Contains(err.Error(), "spec is immutable") {
		t.Errorf("changing spec.backup: err = %v; want the CEL immutability message", err)
	}
	bad := newSource("no-slash")
	bad.Spec.Backup = "vol-lz4"
	if err := e.c.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "spec.backup: Invalid value") {
		t.Errorf("spec.backup without a backup name: err = %v; want a spec.backup error", err)
	}
}

func testPopulate(t *testing.T, e *env) {
	ctx := context.Background()
	src, pvc := newSource("ok"), blockClaim("restored", "ok")
	e.create(t, src, pvc)
	// The pod comes with the prime PVC, before the prime binds: the scheduler
	// holds it until then, and no watch round trip is spent in between.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: podName(pvc)}}
	waitFor(t, "populator pod created with the unbound prime PVC", e.exists(pod))
	pv := e.bindPrime(t, pvc)
	c := pod.Spec.Containers[0]
	if diff := cmp.Diff([]string{"populate", "--backup", src.Spec.Backup, "--device", DevicePath, "--result-file", DefaultResultFile}, c.Args); diff != "" {
		t.Errorf("pod args (-want +got):\n%s", diff)
	}
	if got := pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName; got != primeName(pvc) {
		t.Errorf("pod volume claim %q; want the prime %q", got, primeName(pvc))
	}
	// Progress from the pod's annotation reaches the BackupSource status.
	pod.Annotations[AnnProgress] = "8388608/16777216"
	if err := e.c.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "progress 50% in the BackupSource status", func() (bool, error) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(src), src)
		return src.Status.Progress == "50%" && src.Status.Phase == v1alpha1.PhasePopulating, err
	})
	e.finishPod(t, pvc, corev1.PodSucceeded, 0, `{"succeeded":true,"message":"restored and verified bak://vol-lz4/backup-a94d0f6e2b1c7358","bytes":16777216}`)
	waitFor(t, "PV rebound to the user's PVC", func() (bool, error) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(pv), pv)
		r := pv.Spec.ClaimRef
		return r != nil && r.Namespace == "team-a" && r.Name == pvc.Name && r.UID == pvc.UID, err
	})
	// The PV binder's part: the user's PVC binds.
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(pvc), pvc); err != nil {
		t.Fatal(err)
	}
	pvc.Spec.VolumeName = pv.Name
	if err := e.c.Update(ctx, pvc); err != nil {
		t.Fatalf("bind user PVC: %v", err)
	}
	waitFor(t, "prime PVC deleted", e.deleted(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: primeName(pvc)}}))
	waitFor(t, "pod deleted", e.gone(pod))
	waitFor(t, "Succeeded, finalizers removed", func() (bool, error) {
		err1 := e.c.Get(ctx, client.ObjectKeyFromObject(src), src)
		err2 := e.c.Get(ctx, client.ObjectKeyFromObject(pvc), pvc)
		return src.Status.Phase == v1alpha1.PhaseSucceeded && !hasFinalizer(src.Finalizers) && !hasFinalizer(pvc.Finalizers), errorsJoin(err1, err2)
	})
	ev := e.waitEvents(t, pvc, "Normal PopulateStarted", "Normal PopulatorPodCreated", "Normal PopulateProgress: backup bak://vol-lz4/backup-a94d0f6e2b1c7358: 50% restored",
		"Normal PopulateVerified: PVC team-a/restored: restored and verified", "Normal Bound: PVC team-a/restored is bound to the populated volume pv-restored")
	for _, once := range []string{"PopulateStarted", "PopulatorPodCreated"} {
		if n := strings.Count(ev, "Normal "+once+":"); n != 1 {
			t.Errorf("%d %s events; want 1 (a pass that found the object already made says nothing):\n%s", n, once, ev)
		}
	}
}

func testDamaged(t *testing.T, e *env) {
	ctx := context.Background()
	src, pvc := newSource("damaged"), blockClaim("damaged", "damaged")
	e.create(t, src, pvc)
	e.bindPrime(t, pvc)
	msg := "restore bak://vol-lz4/backup-a94d0f6e2b1c7358: block at offset 2097152 (blocks/ab/cd/abcd.blk): block checksum mismatch"
	e.finishPod(t, pvc, corev1.PodFailed, ExitPermanent, fmt.Sprintf(`{"succeeded":false,"permanent":true,"message":%q}`, msg))
	waitFor(t, "BackupSource Failed", func() (bool, error) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(src), src)
		return src.Status.Phase == v1alpha1.PhaseFailed, err
	})
	if want := "population of PVC team-a/damaged failed: " + msg; src.Status.Message != want {
		t.Errorf("status message %q; want %q", src.Status.Message, want)
	}
	waitFor(t, "prime PVC deleted", e.deleted(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: primeName(pvc)}}))
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(pvc), pvc); err != nil {
		t.Fatal(err)
	}
	if pvc.Annotations[AnnFailed] == "" || pvc.Spec.VolumeName != "" || hasFinalizer(pvc.Finalizers) {
		t.Errorf("failed PVC: annotations %v, volumeName %q, finalizers %v; want marked failed, unbound, released", pvc.Annotations, pvc.Spec.VolumeName, pvc.Finalizers)
	}
	// Not retried: no new pod appears.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: podName(pvc)}}
	waitFor(t, "failed pod deleted", e.gone(pod))
	time.Sleep(time.Second)
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(pod), pod); !apierrors.IsNotFound(err) {
		t.Errorf("a damaged backup was retried: pod %s exists (err %v)", pod.Name, err)
	}
}

func testDeleted(t *testing.T, e *env) {
	ctx := context.Background()
	src, pvc := newSource("deleted"), blockClaim("deleted", "deleted")
	e.create(t, src, pvc)
	e.bindPrime(t, pvc)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: podName(pvc)}}
	waitFor(t, "populator pod created", e.exists(pod))
	if err := e.c.Delete(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod deleted", e.gone(pod))
	waitFor(t, "prime PVC deleted", e.deleted(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: primeName(pvc)}}))
	waitFor(t, "user PVC released", func() (bool, error) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(pvc), pvc)
		return apierrors.IsNotFound(err) || err == nil && !hasFinalizer(pvc.Finalizers), client.IgnoreNotFound(err)
	})
	waitFor(t, "BackupSource released", func() (bool, error) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(src), src)
		return err == nil && !hasFinalizer(src.Finalizers), err
	})
	want := "PVC team-a/deleted is being deleted"
	waitFor(t, "BackupSource back to Pending", func() (bool, error) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(src), src)
		return err == nil && src.Status.Phase == v1alpha1.PhasePending && src.Status.Message == want,
			fmt.Errorf("status %s %q (%v); expected Pending %q", src.Status.Phase, src.Status.Message, err, want)
	})
}

func testMissingSource(t *testing.T, e *env) {
	pvc := blockClaim("no-source", "nowhere")
	e.create(t, pvc)
	want := "Normal BackupSourceMissing: spec.dataSourceRef.name: BackupSource team-a/nowhere does not exist"
	waitFor(t, "BackupSourceMissing event", func() (bool, error) { return strings.Contains(e.events(t, pvc), want), nil })
	// Creating it starts the population.
	e.create(t, newSource("nowhere"))
	waitFor(t, "prime PVC created", e.exists(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: primeName(pvc)}}))
}

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
