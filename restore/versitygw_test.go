package restore

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore/backupstore/s3"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// TestVersitygw backs up, lists, restores and verifies through a real SigV4 S3
// server (versitygw), in the targets Longhorn users have: the bucket root and a
// path inside the bucket, path-style and virtual-hosted-style, plain and TLS
// trusted via AWS_CERT.
func TestVersitygw(t *testing.T) {
	t.Parallel()
	plain := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	secure := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}, TLS: true})
	cases := []struct {
		name    string
		srv     *testenv.S3
		url     string
		virtual bool
		dir     string // where volume.cfg lands under the server's posix root
	}{
		{"bucket root, path-style", plain, "s3://backups@us-east-1/", false, "backups/backupstore"},
		{"prefix, path-style", plain, "s3://backups@us-east-1/cluster-a", false, "backups/cluster-a/backupstore"},
		{"bucket root, virtual-hosted", plain, "s3://backups@us-east-1/", true, "backups/backupstore"},
		{"prefix, virtual-hosted", plain, "s3://backups@us-east-1/cluster-b/longhorn", true, "backups/cluster-b/longhorn/backupstore"},
		{"TLS via AWS_CERT, bucket root, path-style", secure, "s3://backups@us-east-1/", false, "backups/backupstore"},
		{"TLS, prefix, virtual-hosted", secure, "s3://backups@us-east-1/tls", true, "backups/tls/backupstore"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.srv.Env()
			o := StoreOptions{Getenv: func(k string) string { return env[k] }}
			if c.virtual {
				// The bucket is the host name backups.localhost, which only the
				// test's dialer resolves (testenv.S3Domain).
				env["VIRTUAL_HOSTED_STYLE"] = "true"
				o.Transport = c.srv.Transport()
			}
			st, err := OpenStore(c.url, o)
			if err != nil {
				t.Fatal(err)
			}
			volume := "vol-vgw-" + string(rune('a'+i))
			dir := t.TempDir()
			img := filepath.Join(dir, "src.img")
			writeImage(t, img, 12<<20, uint64(i+1), map[int64]int{0: 70000, 5 << 20: 3 << 20})
			ctx := context.Background()
			if _, err := WriteBackup(ctx, st, BackupOptions{Volume: volume, Image: img, Backup: "backup-one"}); err != nil {
				t.Fatalf("WriteBackup: %v", err)
			}
			writeImage(t, img, 12<<20, uint64(i+10), map[int64]int{9 << 20: 4096})
			if _, err := WriteBackup(ctx, st, BackupOptions{Volume: volume, Image: img, Backup: "backup-two"}); err != nil {
				t.Fatalf("WriteBackup (incremental): %v", err)
			}
			if _, err := os.Stat(filepath.Join(c.srv.Root, c.dir, "volumes")); err != nil {
				t.Errorf("objects are not under %s of the server's root, where Longhorn keeps them: %v", c.dir, err)
			}
			vi, err := ListVolume(ctx, st.Store, volume)
			if err != nil {
				t.Fatalf("ListVolume: %v", err)
			}
			var got []string
			for _, b := range vi.Backups {
				got = append(got, b.Handle+" "+b.State)
			}
			// Both backups are made within the same second (CreatedTime's resolution).
			slices.Sort(got)
			want := []string{"bak://" + volume + "/backup-one completed", "bak://" + volume + "/backup-two completed"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("backups (-want +got):\n%s", diff)
			}
			out := filepath.Join(dir, "restored.img")
			if _, err := Restore(ctx, st.Store, volume, "backup-two", out, Options{}); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if testenv.FileSHA256(t, out) != testenv.FileSHA256(t, img) {
				t.Errorf("restored image differs from the source image")
			}
			rep, err := Verify(ctx, st.Store, volume, "backup-one", VerifyOptions{})
			if err != nil || !rep.OK() {
				t.Errorf("Verify = %+v, %v; want no problems", rep.Problems, err)
			}
		})
	}
}

// TestVersitygwErrors: what a user gets wrong in the backup-target secret or URL
// is an error naming the setting to check.
func TestVersitygwErrors(t *testing.T) {
	t.Parallel()
	plain := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	secure := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}, TLS: true})
	closed := "http://127.0.0.1:" + closedPort(t)
	ep := plain.Endpoint + " (AWS_ENDPOINTS)"
	cases := []struct {
		name     string
		env      map[string]string
		url      string
		sentinel error
		want     string
	}{
		{name: "unknown access key", env: with(plain.Env(), "AWS_ACCESS_KEY_ID", "nobody"), url: "s3://backups@us-east-1/",
			sentinel: s3.ErrCredentials,
			want:     "list volumes: list s3://backups/backupstore/volumes: s3 credentials refused: " + ep + " does not know the access key; check AWS_ACCESS_KEY_ID of the backup-target secret"},
		{name: "wrong secret key", env: with(plain.Env(), "AWS_SECRET_ACCESS_KEY", "wrong"), url: "s3://backups@us-east-1/",
			sentinel: s3.ErrCredentials,
			want:     "list volumes: list s3://backups/backupstore/volumes: s3 credentials refused: " + ep + " rejected the request signature; check AWS_SECRET_ACCESS_KEY of the backup-target secret"},
		{name: "missing bucket", env: plain.Env(), url: "s3://nobucket@us-east-1/longhorn", sentinel: s3.ErrNoBucket,
			want: `list volumes: list s3://nobucket/longhorn/backupstore/volumes: s3 bucket does not exist: bucket "nobucket" not found at ` + ep + "; check the bucket of the backupstore URL (s3://bucket@region/path)"},
		{name: "unreachable endpoint", env: with(plain.Env(), "AWS_ENDPOINTS", closed), url: "s3://backups@us-east-1/",
			sentinel: s3.ErrUnreachable, want: "check AWS_ENDPOINTS and that the server is reachable"},
		{name: "TLS without AWS_CERT", env: with(secure.Env(), "AWS_CERT", ""), url: "s3://backups@us-east-1/",
			sentinel: s3.ErrUnreachable, want: "the server's certificate is not signed by a trusted CA; check AWS_CERT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, err := OpenStore(c.url, StoreOptions{Getenv: func(k string) string { return c.env[k] }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = List(context.Background(), st.Store, ListOptions{})
			if !errors.Is(err, c.sentinel) {
				t.Errorf("List error %v; want %v", err, c.sentinel)
			}
			if c.sentinel == s3.ErrUnreachable {
				if err == nil || !strings.HasSuffix(err.Error(), c.want) {
					t.Errorf("List error\n got %v\nwant …%s", err, c.want)
				}
				return
			}
			if err == nil || err.Error() != c.want {
				t.Errorf("List error\n got %v\nwant %s", err, c.want)
			}
		})
	}
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
