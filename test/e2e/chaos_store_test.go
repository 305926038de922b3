package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

// stoppableS3 is gofakes3 over real HTTP on a fixed loopback port that the test can
// stop (the listener closes: connections are refused) and start again.
type stoppableS3 struct {
	t       *testing.T
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
}

func startStoppableS3(t *testing.T, bucket, tree string) *stoppableS3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stoppableS3{t: t, addr: l.Addr().String(), handler: gofakes3.New(backend).Server()}
	s.serve(l)
	// Objects at the bucket root, keys backupstore/…, as Longhorn writes them; uploaded
	// over HTTP so that gofakes3 records them as a client's PUT would (gofakes3 checks
	// no signature).
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		req, err := http.NewRequest(http.MethodPut, "http://"+s.addr+"/"+bucket+"/"+filepath.ToSlash(rel), bytes.NewReader(b))
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("PUT %s: HTTP %d", rel, resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("upload %s: %v", tree, err)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *stoppableS3) serve(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
}

// stop closes the listener and every connection.
func (s *stoppableS3) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// start listens on the same address again.
func (s *stoppableS3) start() {
	s.t.Helper()
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("listen on %s again: %v", s.addr, err)
	}
	s.serve(l)
}

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

// TestBackupstoreOutage stops the S3 backupstore of a running webhook during a burst of
// Longhorn contents and bare-reference PVCs naming backups: every admission answers
// (failurePolicy Fail, so one that outlived timeoutSeconds would be refused) and is
// allowed with the documented warning; once S3 listens again, the same process checks
// new references again (a missing backup is denied) without a restart.
func TestBackupstoreOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v := variants[0]
	const name, workers, perWorker = "chaos-store", 4, 15
	if err := v.c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteChaosObjects(t, v, name) })
	s3 := startStoppableS3(t, "backups", strings.TrimPrefix(store, "file://"))
	certDir := t.TempDir()
	ca, err := cluster.ServingCert(certDir)
	if err != nil {
		t.Fatal(err)
	}
	w := startWebhookEnv(t, v, []string{"AWS_ENDPOINTS=http://" + s3.addr, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"},
		"--cert-dir", certDir, "--backupstore", "s3://backups@us-east-1/")
	w.waitFor("readyz", w.ready)
	registerIsolated(t, v, name, "https://"+w.addr, ca)
	labels := map[string]string{chaosLabel: name}
	// References to backups that exist: the suite's own webhook (file:// copy of the same
	// fixtures, also called for these objects) admits them, so any refusal or missing
	// warning is this test's webhook's. The first lookup of each backup during the outage
	// costs up to the pre-flight budget (2 s); the unreachable answer is then cached (30 s).
	outageBackups := []string{"vol-lz4/backup-7f3a9c21d4e85b60", "vol-lz4/backup-1c0e4b2f9a7d6835", "vol-lz4/backup-a94d0f6e2b1c7358"}
	const upBackup = "vol-gzip/backup-5b2e8d1f0c4a9367" // checked before the outage only
	objects := []func(n, backup string) client.Object{
		func(n, backup string) client.Object {
			return &snapv1.VolumeSnapshotContent{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: labels}, Spec: snapv1.VolumeSnapshotContentSpec{
				Driver: webhook.DefaultLonghornDriver, DeletionPolicy: snapv1.VolumeSnapshotContentRetain,
				Source:            snapv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To("bak://" + backup)},
				VolumeSnapshotRef: corev1.ObjectReference{Namespace: name, Name: n}}}
		},
		func(n, backup string) client.Object {
			return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: name, Labels: labels,
				Annotations: map[string]string{webhook.AnnotationBackup: backup}},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
		},
	}
	const warned = "the backupstore could not be reached"
	warnings := &warningLog{}
	cfg := rest.CopyConfig(v.c.Config)
	cfg.WarningHandler = warnings
	wc, err := client.New(cfg, client.Options{Scheme: v.c.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	err = wc.Create(ctx, objects[0]("store-up", upBackup), client.DryRunAll)
	if got := warnings.take(); err != nil || len(got) != 0 {
		t.Fatalf("with S3 up, a content of an existing backup: %v, warnings %q; want it admitted without a warning", err, got)
	}

	s3.stop()
	var mu sync.Mutex
	var latencies []time.Duration
	var applies, failures int
	var wg sync.WaitGroup
	for k := range workers {
		warnings := &warningLog{}
		cfg := rest.CopyConfig(v.c.Config)
		cfg.WarningHandler = warnings
		c, err := client.New(cfg, client.Options{Scheme: v.c.Client.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := range perWorker {
				n := fmt.Sprintf("store-down-%d-%d", k, i)
				start := time.Now()
				err := c.Create(ctx, objects[i%len(objects)](n, outageBackups[(k+i)%len(outageBackups)]), client.DryRunAll)
				d := time.Since(start)
				got := warnings.take()
				mu.Lock()
				applies++
				latencies = append(latencies, d)
				if err != nil {
					failures++
				}
				mu.Unlock()
				if err != nil || !slices.ContainsFunc(got, func(w string) bool { return strings.Contains(w, warned) }) {
					t.Errorf("%s with S3 stopped: error %v, warnings %q; want it allowed with a warning %q", n, err, got, warned)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("backupstore outage figures: %d applies, %d failures, p50 %s, p99 %s (pre-flight budget 2 s per lookup, timeoutSeconds 5)",
		applies, failures, percentile(latencies, 50), percentile(latencies, 99))

	// Back: once the cached unreachable answer expires (30 s), the same process reads the
	// store again.
	s3.start()
	deadline := time.Now().Add(2 * time.Minute)
	start := time.Now()
	for i := 0; ; i++ {
		err := wc.Create(ctx, objects[0](fmt.Sprintf("store-back-%d", i), outageBackups[0]), client.DryRunAll)
		got := warnings.take()
		if err == nil && len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("S3 is back, but a content of an existing backup still gets error %v, warnings %q after 2 minutes; want it checked again (no restart)", err, got)
		}
		time.Sleep(time.Second)
	}
	t.Logf("backupstore back: the same process checks backups again after %s (the pre-flight caches an unreachable answer for 30 s)", time.Since(start).Round(time.Second))
}
