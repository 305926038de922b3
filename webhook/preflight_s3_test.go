package webhook

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// s3Backup writes one small backup, bak://vol-s3/backup-s3, into a versitygw
// bucket-root store and returns the server.
func s3Backup(t *testing.T) *testenv.S3 {
	t.Helper()
	srv := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	st := openS3(t, "s3://backups@us-east-1/", srv.Env())
	img := filepath.Join(t.TempDir(), "src.img")
	if err := os.WriteFile(img, []byte(strings.Repeat("snaprestore", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.WriteBackup(context.Background(), st, restore.BackupOptions{Volume: "vol-s3", Image: img, Backup: "backup-s3"}); err != nil {
		t.Fatalf("WriteBackup: %v", err)
	}
	return srv
}

func openS3(t *testing.T, url string, env map[string]string) *restore.Store {
	t.Helper()
	st, err := restore.OpenStore(url, restore.StoreOptions{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// silentEndpoint accepts connections and never answers: a hung S3 server.
func silentEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return "http://" + l.Addr().String()
}

// TestPreflightVersitygw: against a real S3 server, a wrong secret, a missing
// bucket, a closed and a hung endpoint each allow with a warning naming the
// setting to check; a missing backup is denied with the available ones.
func TestPreflightVersitygw(t *testing.T) {
	t.Parallel()
	srv := s3Backup(t)
	path := field.NewPath("spec", "source", "snapshotHandle")
	root := "s3://backups@us-east-1/"
	cases := []struct {
		name    string
		url     string
		env     map[string]string
		handle  string
		errs    string // the one denial, or ""
		warning string // what the one warning ends with, or ""
	}{
		{name: "completed backup", url: root, env: srv.Env(), handle: "bak://vol-s3/backup-s3"},
		{name: "missing backup", url: root, env: srv.Env(), handle: "bak://vol-s3/backup-nope",
			errs: `spec.source.snapshotHandle: Invalid value: "bak://vol-s3/backup-nope": backup "backup-nope" of volume "vol-s3" does not exist in the backupstore; available backups (newest first): bak://vol-s3/backup-s3`},
		{name: "wrong secret key", url: root, env: with(srv.Env(), "AWS_SECRET_ACCESS_KEY", "wrong"), handle: "bak://vol-s3/backup-s3",
			warning: "rejected the request signature; check AWS_SECRET_ACCESS_KEY of the backup-target secret)"},
		{name: "missing bucket", url: "s3://nobucket@us-east-1/", env: srv.Env(), handle: "bak://vol-s3/backup-s3",
			warning: "; check the bucket of the backupstore URL (s3://bucket@region/path))"},
		{name: "closed endpoint", url: root, env: with(srv.Env(), "AWS_ENDPOINTS", "http://127.0.0.1:"+closedPort(t)), handle: "bak://vol-s3/backup-s3",
			warning: "; check AWS_ENDPOINTS and that the server is reachable)"},
		{name: "hung endpoint", url: root, env: with(srv.Env(), "AWS_ENDPOINTS", silentEndpoint(t)), handle: "bak://vol-s3/backup-s3",
			warning: "; no answer in time; check AWS_ENDPOINTS and that the server is reachable)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := NewPreflight(openS3(t, c.url, c.env), 0)
			errs, warnings := checkHandle(t, p, path, c.handle)
			if got := errs.ToAggregate(); (got == nil) != (c.errs == "") || (got != nil && got.Error() != c.errs) {
				t.Errorf("errors %v; want %q", got, c.errs)
			}
			prefix := "spec.source.snapshotHandle: the backupstore could not be reached, so " + c.handle + " was not checked ("
			switch {
			case c.warning == "" && len(warnings) != 0:
				t.Errorf("warnings %q; want none", warnings)
			case c.warning != "" && (len(warnings) != 1 || !strings.HasPrefix(warnings[0], prefix) || !strings.HasSuffix(warnings[0], c.warning)):
				t.Errorf("warnings %q; want one: %s…%s", warnings, prefix, c.warning)
			}
		})
	}
}

// TestPreflightVersitygwOnAPIServer: kube-apiserver calls the validating webhook,
// whose pre-flight reads versitygw; when the S3 server goes away, the next
// restore is admitted with a warning naming AWS_ENDPOINTS instead of hanging.
func TestPreflightVersitygwOnAPIServer(t *testing.T) {
	t.Parallel()
	srv := s3Backup(t)
	scheme := testenv.NewScheme()
	ctrl.SetLogger(logr.Discard())
	mgr, env := startWebhookEnv(t, scheme, envtest.WebhookInstallOptions{
		ValidatingWebhooks: []*admissionregv1.ValidatingWebhookConfiguration{testValidatingConfig()},
	})
	pre := NewPreflight(openS3(t, "s3://backups@us-east-1/", srv.Env()), 0)
	registerValidating(mgr.GetWebhookServer(), NewValidatingHandlers(mgr, HandlerOptions{Backups: pre}))
	runManager(t, mgr)
	warnings := &warningRecorder{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = warnings
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const lh = DefaultLonghornDriver

	if err := c.Create(ctx, envContent("s3-ok", "apps", "s", lh, "bak://vol-s3/backup-s3")); err != nil {
		t.Errorf("content of an existing backup: %v", err)
	}
	err = c.Create(ctx, envContent("s3-missing", "apps", "s", lh, "bak://vol-s3/backup-nope"))
	want := denied("volumesnapshotcontents", "VolumeSnapshotContent", "s3-missing",
		`spec.source.snapshotHandle: Invalid value: "bak://vol-s3/backup-nope": backup "backup-nope" of volume "vol-s3" does not exist in the backupstore; available backups (newest first): bak://vol-s3/backup-s3`)
	if err == nil || err.Error() != want {
		t.Errorf("content of a missing backup:\n got %v\nwant %s", err, want)
	}
	if got := warnings.take(); len(got) != 0 {
		t.Errorf("warnings while the store answers: %q", got)
	}

	srv.Stop()
	if err := c.Create(ctx, envContent("s3-down", "apps", "s", lh, "bak://vol-s3/backup-later")); err != nil {
		t.Fatalf("content while the S3 server is down: %v; want admitted with a warning", err)
	}
	got := warnings.take()
	const suffix = "; check AWS_ENDPOINTS and that the server is reachable)"
	if len(got) != 1 || !strings.Contains(got[0], "the backupstore could not be reached, so bak://vol-s3/backup-later was not checked") || !strings.HasSuffix(got[0], suffix) {
		t.Errorf("warnings while the S3 server is down %q; want one ending %q", got, suffix)
	}
}

// checkHandle is the pre-flight of a backup reference as the rules run it.
func checkHandle(t *testing.T, p *Preflight, path *field.Path, value string) (field.ErrorList, admission.Warnings) {
	t.Helper()
	ref, err := restore.ParseReference(value)
	if err != nil {
		t.Fatal(err)
	}
	return checkBackup(context.Background(), p, path, value, ref)
}

func with(env map[string]string, k, v string) map[string]string {
	env[k] = v
	return env
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// listCounter counts S3 LIST requests (GET of the bucket with a prefix query).
type listCounter struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *listCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if q := r.URL.Query(); r.Method == http.MethodGet && (q.Has("list-type") || q.Has("prefix")) {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// TestPreflightManyBackups: the pre-flight of a mistyped backup of a volume with
// 5,000 backups lists them once (5 pages of 1,000) and still names the closest
// and the newest.
func TestPreflightManyBackups(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	many := testenv.ManyBackups{Volume: "vol-many", N: 5000, First: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := many.Write(filepath.Join(srv.Root, "backups")); err != nil {
		t.Fatal(err)
	}
	env := srv.Env()
	lc := &listCounter{next: srv.Transport()}
	st, err := restore.OpenStore("s3://backups@us-east-1/", restore.StoreOptions{Getenv: func(k string) string { return env[k] }, Transport: lc})
	if err != nil {
		t.Fatal(err)
	}
	newest := many.Name(many.N - 1)
	typo := "bak://vol-many/" + newest[:len(newest)-1] + "x"
	path := field.NewPath("spec", "source", "snapshotHandle")
	// The lookup of Preflight.Facts without its 2 s budget, which a loaded test
	// machine may exceed: what is asserted is the answer and its requests.
	errs, warnings := ValidateBackupFacts(path, typo, lookupBackup(context.Background(), st.Store, restore.Reference{Volume: "vol-many", Backup: strings.TrimPrefix(typo, "bak://vol-many/")}))
	var avail []string
	for i := many.N - 1; i > many.N-6; i-- {
		avail = append(avail, "bak://vol-many/"+many.Name(i))
	}
	want := field.Invalid(path, typo, fmt.Sprintf(`backup %q of volume "vol-many" does not exist in the backupstore; did you mean bak://vol-many/%s? available backups (newest first): %s`,
		strings.TrimPrefix(typo, "bak://vol-many/"), newest, strings.Join(avail, ", "))).Error()
	if len(errs) != 1 || errs[0].Error() != want || len(warnings) != 0 {
		t.Errorf("CheckHandle = %v, %q\nwant %s", errs, warnings, want)
	}
	if n := lc.n.Load(); n != 5 {
		t.Errorf("%d LIST requests; want 5, one listing of 5,000 names", n)
	}
}

// TestPreflightBackingImage: a backup of a volume on a backing image is admitted
// with a warning naming the image and the path its backup was looked for at,
// and without one once that backup is in the store.
func TestPreflightBackingImage(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	st, err := restore.OpenStore("file://"+root, restore.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "top.img")
	if err := os.WriteFile(img, []byte(strings.Repeat("top", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.WriteBackup(context.Background(), st, restore.BackupOptions{Volume: "vol-bi", Image: img, Backup: "backup-bi"}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(root, backupstore.VolumeConfigPath("vol-bi"))
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := backupstore.ParseVolume(data)
	if err != nil {
		t.Fatal(err)
	}
	vol.BackingImageName = "bi-ubuntu"
	if data, err = backupstore.MarshalVolume(vol); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	path := field.NewPath("spec", "source", "snapshotHandle")
	errs, warnings := checkHandle(t, NewPreflight(st, 0), path, "bak://vol-bi/backup-bi")
	want := admission.Warnings{`spec.source.snapshotHandle: bak://vol-bi/backup-bi is of a volume created from Longhorn backing image "bi-ubuntu" and holds only what the volume wrote on top of it; ` +
		"the image has no completed backup in the backupstore (backupstore/backing-images/backing-images/bi-ubuntu/backing-image.cfg), " +
		"so the restore needs it (in Longhorn, or as the file of snaprestore restore --backing-image)"}
	if len(errs) != 0 || !cmp.Equal(warnings, want) {
		t.Errorf("CheckHandle = %v, %q; want no errors and %q", errs, warnings, want)
	}
	// With the image's own backup in the store the restore lays the base down:
	// nothing to warn about (a fresh Preflight: answers are cached).
	biCfg := &backupstore.BackingImage{Name: "bi-ubuntu", Size: 4096, CompressionMethod: backupstore.CompressionLZ4, CompleteTime: "2026-01-02T03:04:05Z"}
	if data, err = backupstore.MarshalBackingImage(biCfg); err != nil {
		t.Fatal(err)
	}
	biPath := filepath.Join(root, backupstore.BackingImageConfigPath("bi-ubuntu"))
	if err := os.MkdirAll(filepath.Dir(biPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(biPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if errs, warnings := checkHandle(t, NewPreflight(st, 0), path, "bak://vol-bi/backup-bi"); len(errs) != 0 || len(warnings) != 0 {
		t.Errorf("CheckHandle with the backing image's backup in the store = %v, %q; want no errors and no warnings", errs, warnings)
	}
}

// failList answers every S3 LIST with 503 SlowDown, as an overloaded store does.
type failList struct{ next http.RoundTripper }

func (f failList) RoundTrip(r *http.Request) (*http.Response, error) {
	if q := r.URL.Query(); r.Method == http.MethodGet && (q.Has("list-type") || q.Has("prefix")) {
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Request: r,
			Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}, nil
	}
	return f.next.RoundTrip(r)
}

// TestPreflightMissingBackupListingFails: a backup known to be missing stays
// denied when the volume's backups cannot be listed, and the message says so.
func TestPreflightMissingBackupListingFails(t *testing.T) {
	t.Parallel()
	srv := s3Backup(t)
	env := srv.Env()
	st, err := restore.OpenStore("s3://backups@us-east-1/", restore.StoreOptions{Getenv: func(k string) string { return env[k] }, Transport: failList{srv.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	path := field.NewPath("spec", "source", "snapshotHandle")
	errs, warnings := ValidateBackupFacts(path, "bak://vol-s3/backup-nope", lookupBackup(context.Background(), st.Store, restore.Reference{Volume: "vol-s3", Backup: "backup-nope"}))
	want := `spec.source.snapshotHandle: Invalid value: "bak://vol-s3/backup-nope": backup "backup-nope" of volume "vol-s3" does not exist in the backupstore ` +
		`(its other backups could not be listed: list backups of vol-s3: list s3://backups/backupstore/volumes/`
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), want) || !strings.HasSuffix(errs[0].Error(), ": Please reduce your request rate.)") || len(warnings) != 0 {
		t.Errorf("got %v, %q; want one denial starting %s", errs, warnings, want)
	}
}
