package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/test/testenv"
	"github.com/snaprestore/snaprestore/webhook"
)

// warningLog records the warnings of one client's requests.
type warningLog struct {
	mu   sync.Mutex
	text []string
}

func (w *warningLog) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.text
	w.text = nil
	return t
}

// storeFault is one way the S3 server of the backupstore goes away, and how it comes
// back.
type storeFault struct {
	name    string
	what    string // for the log
	fail    func(*testenv.S3) error
	recover func(*testenv.S3) error
}

var storeFaults = []storeFault{
	{name: "killed", what: "versitygw SIGKILLed (port refuses), restarted on the same port and posix root",
		fail: func(s *testenv.S3) error { s.Stop(); return nil }, recover: (*testenv.S3).Restart},
	{name: "hung", what: "versitygw SIGSTOPped (connections accepted, never answered), then SIGCONT",
		fail: (*testenv.S3).Pause, recover: (*testenv.S3).Resume},
}

// TestBackupstoreOutage runs a webhook process against a real SigV4 S3 server
// (versitygw, the fixtures at the bucket root as Longhorn writes them) and takes the
// server away in the middle of a burst of Longhorn contents and bare-reference PVCs
// naming backups, once killed and once hung: every admission answers (failurePolicy
// Fail, so one that outlived timeoutSeconds would be refused), those after the fault
// with the documented warning; once the server is back, the same process checks new
// references again without a restart.
func TestBackupstoreOutage(t *testing.T) {
	t.Parallel()
	for _, f := range storeFaults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			backupstoreOutage(t, f)
		})
	}
}

// Backups of the suite's fixtures (cluster.FixtureBackupstore). The suite's own
// webhook (a file:// copy of the same fixtures, also called for these objects) admits
// references to them, so any refusal or missing warning is the test's webhook's.
var (
	// storeUpBackup is looked up before the fault only (then cached for 30 s).
	storeUpBackup = "vol-gzip/backup-5b2e8d1f0c4a9367"
	// storeDownBackups are first looked up after the fault: the pre-flight cannot
	// answer them from its cache.
	storeDownBackups = []string{"vol-lz4/backup-7f3a9c21d4e85b60", "vol-lz4/backup-1c0e4b2f9a7d6835", "vol-lz4/backup-a94d0f6e2b1c7358"}
)

// storeObjects are the two kinds of the burst: a Longhorn VolumeSnapshotContent and a
// PVC with a bare backup reference.
func storeObjects(ns string, labels map[string]string) []func(n, backup string) client.Object {
	return []func(n, backup string) client.Object{
		func(n, backup string) client.Object {
			return &snapv1.VolumeSnapshotContent{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: labels}, Spec: snapv1.VolumeSnapshotContentSpec{
				Driver: webhook.DefaultLonghornDriver, DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
				Source:            snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To("bak://" + backup)},
				VolumeSnapshotRef: corev1.ObjectReference{Namespace: ns, Name: n}}}
		},
		func(n, backup string) client.Object {
			return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: ns, Labels: labels,
				Annotations: map[string]string{webhook.AnnotationBackup: backup}},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
		},
	}
}

// warningClient is a client of the cluster whose warnings go to a new warningLog.
func warningClient(t *testing.T, v *variant) (client.Client, *warningLog) {
	t.Helper()
	w := &warningLog{}
	cfg := rest.CopyConfig(v.c.Config)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: v.c.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

const storeWarning = "the backupstore could not be reached"

func warned(got []string) bool {
	return slices.ContainsFunc(got, func(w string) bool { return strings.Contains(w, storeWarning) })
}

func backupstoreOutage(t *testing.T, f storeFault) {
	ctx := context.Background()
	v := variants[0]
	name := "chaos-store-" + f.name
	const workers, perWorker = 4, 24
	s3, w := startStoreWebhook(t, v, name)
	objects := storeObjects(name, map[string]string{chaosLabel: name})
	wc, warnings := warningClient(t, v)
	// The API server picks the new configurations up asynchronously; the first
	// admission with a signed S3 read and no warning proves both.
	testenv.Poll(t, "a content of an existing backup admitted without a warning while S3 is up", func() bool {
		err := wc.Create(ctx, objects[0]("store-up", storeUpBackup), client.DryRunAll)
		return err == nil && len(warnings.take()) == 0
	})

	b := storeBurst{objects: objects, faultAt: workers * perWorker / 3}
	b.run(t, v, f, s3, workers, perWorker)
	t.Logf("backupstore outage (%s) figures: %d applies, %d failures; after the fault %d applies, p50 %s, p99 %s, max %s (pre-flight budget 2 s per lookup, timeoutSeconds 5)",
		f.what, b.applies, b.failures, len(b.faulted), percentile(b.faulted, 50), percentile(b.faulted, 99), percentile(b.faulted, 100))
	if len(b.faulted) == 0 {
		t.Fatalf("no apply ran after the fault; want the burst to go on through it")
	}

	// Back: once the cached unreachable answer expires (30 s), the same process reads
	// the store again. One try a second: each is a review of both webhooks.
	if err := f.recover(s3); err != nil {
		t.Fatal(err)
	}
	start, last := time.Now(), time.Time{}
	var tries int
	testenv.Poll(t, "a content of an existing backup admitted without a warning after S3 came back (no restart)", func() bool {
		if time.Since(last) < time.Second {
			return false
		}
		last = time.Now()
		tries++
		err := wc.Create(ctx, objects[0](fmt.Sprintf("store-back-%d", tries), storeDownBackups[0]), client.DryRunAll)
		return err == nil && len(warnings.take()) == 0
	})
	t.Logf("backupstore back (%s): the same process checks backups again after %s, %d tries (the pre-flight caches an unreachable answer for 30 s)",
		f.name, time.Since(start).Round(time.Second), tries)
	select {
	case err := <-w.done:
		w.done <- err
		w.fatalf("the webhook process exited during the test: %v", err)
	default:
	}
}

// startStoreWebhook starts versitygw with the suite's fixtures at the bucket root
// and a webhook process reading it (--backupstore s3://backups@us-east-1/, the
// server's keys), registered for the objects labelled chaosLabel=name of namespace
// name.
func startStoreWebhook(t *testing.T, v *variant, name string) (*testenv.S3, *webhookProcess) {
	t.Helper()
	if err := v.c.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteChaosObjects(t, v, name) })
	s3 := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	// versitygw's posix backend serves the files of a bucket's directory.
	if _, err := cluster.FixtureBackupstore(moduleRoot, filepath.Join(s3.Root, "backups")); err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	ca, err := cluster.ServingCert(certDir)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, val := range s3.Env() {
		env = append(env, k+"="+val)
	}
	w := startWebhookEnv(t, v, env, "--cert-dir", certDir, "--backupstore", "s3://backups@us-east-1/")
	w.waitFor("readyz", w.ready)
	registerIsolated(t, v, name, "https://"+w.addr, ca)
	return s3, w
}

// storeBurst is one burst of dry-run creates through the fault.
type storeBurst struct {
	objects []func(n, backup string) client.Object
	// faultAt is the number of applies answered before the fault is injected.
	faultAt int

	mu                sync.Mutex
	applies, failures int
	faulted           []time.Duration // latencies of the applies started after the fault
}

// run applies workers×perWorker objects from workers clients; once faultAt are
// answered, f.fail takes the server away while the others are in flight. An apply
// started before the fault names storeUpBackup (cached: admitted, with or without a
// warning); one started after names a backup never looked up, so the pre-flight has
// to reach S3 and must answer with the warning.
func (b *storeBurst) run(t *testing.T, v *variant, f storeFault, s3 *testenv.S3, workers, perWorker int) {
	t.Helper()
	var done atomic.Int64
	var faulted atomic.Bool
	trigger := make(chan struct{})
	var once sync.Once
	fault := make(chan struct{})
	go func() {
		defer close(fault)
		<-trigger
		if err := f.fail(s3); err != nil {
			t.Errorf("fault %s: %v", f.name, err)
		}
		faulted.Store(true)
	}()
	var wg sync.WaitGroup
	for k := range workers {
		c, warnings := warningClient(t, v)
		wg.Go(func() {
			for i := range perWorker {
				after := faulted.Load()
				backup := storeUpBackup
				if after {
					backup = storeDownBackups[(k+i)%len(storeDownBackups)]
				}
				n := fmt.Sprintf("store-%d-%d", k, i)
				start := time.Now()
				err := c.Create(context.Background(), b.objects[i%len(b.objects)](n, backup), client.DryRunAll)
				d := time.Since(start)
				got := warnings.take()
				b.record(after, d, err)
				if err != nil || (after && !warned(got)) {
					t.Errorf("%s naming %s (started after the fault: %v): error %v, warnings %q; want it allowed, after the fault with a warning %q",
						n, backup, after, err, got, storeWarning)
				}
				if done.Add(1) == int64(b.faultAt) {
					once.Do(func() { close(trigger) })
				}
			}
		})
	}
	wg.Wait()
	once.Do(func() { close(trigger) })
	<-fault
}

func (b *storeBurst) record(afterFault bool, d time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applies++
	if err != nil {
		b.failures++
	}
	if afterFault {
		b.faulted = append(b.faulted, d)
	}
}
