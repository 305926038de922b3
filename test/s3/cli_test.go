package s3

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/restore"
	"github.com/snaprestore/snaprestore/restore/backupstore"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// TestCLI backs up, lists, verifies and restores with the snaprestore process on
// the targets Longhorn users have. Virtual-hosted requests go to
// <bucket>.localhost through the test's proxy (testenv.S3.Proxy), since nothing
// resolves that name to loopback.
func TestCLI(t *testing.T) {
	t.Parallel()
	plain := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	secure := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}, TLS: true})
	cases := []struct {
		name    string
		srv     *testenv.S3
		target  string // backupstore URL
		virtual bool
	}{
		{"bucket root, path-style", plain, "s3://backups@us-east-1/", false},
		{"prefix, path-style", plain, "s3://backups@us-east-1/cluster-a", false},
		{"bucket root, virtual-hosted", plain, "s3://backups@us-east-1/", true},
		{"prefix, virtual-hosted", plain, "s3://backups@us-east-1/cluster-b", true},
		{"TLS via AWS_CERT, prefix, path-style", secure, "s3://backups@us-east-1/tls", false},
		{"TLS via AWS_CERT, bucket root, virtual-hosted", secure, "s3://backups@us-east-1/", true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.srv.Env()
			if c.virtual {
				proxy := c.srv.Proxy(t)
				env["VIRTUAL_HOSTED_STYLE"], env["HTTP_PROXY"], env["HTTPS_PROXY"] = "true", proxy, proxy
			}
			volume := fmt.Sprintf("vol-cli-%d", i)
			dir := t.TempDir()
			img := filepath.Join(dir, "src.img")
			writeImage(t, img, uint64(i))
			mustRun(t, env, "backup", "--backupstore", c.target, "--volume", volume, "--from", img, "--backup", "backup-cli")

			r := mustRun(t, env, "backups", "--backupstore", c.target, volume, "-o", "json")
			var vols []restore.VolumeInfo
			if err := json.Unmarshal([]byte(r.stdout), &vols); err != nil {
				t.Fatalf("backups -o json: %v\n%s", err, r.stdout)
			}
			var got []string
			for _, v := range vols {
				for _, b := range v.Backups {
					got = append(got, b.Handle+" "+b.State)
				}
			}
			if diff := cmp.Diff([]string{"bak://" + volume + "/backup-cli completed"}, got); diff != "" {
				t.Errorf("backups (-want +got):\n%s", diff)
			}
			mustRun(t, env, "verify", "bak://"+volume+"/backup-cli", "--backupstore", c.target)

			// The backup URL Longhorn's UI shows names its own backupstore.
			ui := strings.TrimSuffix(c.target, "/") + "/?backup=backup-cli&volume=" + volume
			if !strings.HasSuffix(c.target, "/") {
				ui = c.target + "?backup=backup-cli&volume=" + volume
			}
			out := filepath.Join(dir, "restored.img")
			mustRun(t, env, "restore", ui, "--to", out)
			if got, want := testenv.FileSHA256(t, out), testenv.FileSHA256(t, img); got != want {
				t.Errorf("restored image sha256 %s; want %s (the source image)", got, want)
			}
		})
	}
}

// TestCLIErrors: a wrong backup-target secret or URL exits non-zero with an error
// naming the setting to check.
func TestCLIErrors(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	ep := srv.Endpoint + " (AWS_ENDPOINTS)"
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // the whole stderr; with "…" a suffix of it
	}{
		{"wrong secret key", with(srv.Env(), "AWS_SECRET_ACCESS_KEY", "wrong"), []string{"backups", "--backupstore", "s3://backups@us-east-1/"},
			"snaprestore: list volumes: list s3://backups/backupstore/volumes: s3 credentials refused: " + ep + " rejected the request signature; check AWS_SECRET_ACCESS_KEY of the backup-target secret\n"},
		{"unknown access key", with(srv.Env(), "AWS_ACCESS_KEY_ID", "nobody"), []string{"verify", "bak://vol-a/backup-1", "--backupstore", "s3://backups@us-east-1/"},
			"snaprestore: get s3://backups/" + volumeCfg("vol-a") + ": s3 credentials refused: " + ep + " does not know the access key; check AWS_ACCESS_KEY_ID of the backup-target secret\n"},
		{"missing bucket", srv.Env(), []string{"restore", "bak://vol-a/backup-1", "--backupstore", "s3://nobucket@us-east-1/", "--to", "OUT"},
			`snaprestore: get s3://nobucket/` + volumeCfg("vol-a") + `: s3 bucket does not exist: bucket "nobucket" not found at ` + ep + "; check the bucket of the backupstore URL (s3://bucket@region/path)\n"},
		{"unreachable endpoint", with(srv.Env(), "AWS_ENDPOINTS", "http://127.0.0.1:"+closedPort(t)), []string{"backups", "--backupstore", "s3://backups@us-east-1/"},
			"…check AWS_ENDPOINTS and that the server is reachable\n"},
		{"https to a plain HTTP server", with(srv.Env(), "AWS_ENDPOINTS", strings.Replace(srv.Endpoint, "http:", "https:", 1)), []string{"backups", "--backupstore", "s3://backups@us-east-1/"},
			"…check AWS_ENDPOINTS and that the server is reachable\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := c.args
			for i, a := range args {
				if a == "OUT" {
					args[i] = filepath.Join(t.TempDir(), "out.img")
				}
			}
			r := snaprestore(t, c.env, args...)
			if r.code != 1 {
				t.Errorf("exit status %d; want 1\nstderr: %s", r.code, r.stderr)
			}
			if suffix, ok := strings.CutPrefix(c.want, "…"); ok {
				if !strings.HasPrefix(r.stderr, "snaprestore: ") || !strings.HasSuffix(r.stderr, suffix) {
					t.Errorf("stderr\n got %s\nwant snaprestore: …%s", r.stderr, suffix)
				}
				return
			}
			if r.stderr != c.want {
				t.Errorf("stderr\n got %s\nwant %s", r.stderr, c.want)
			}
		})
	}
}

func mustRun(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := snaprestore(t, env, args...)
	if r.code != 0 {
		t.Fatalf("snaprestore %s: exit status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func with(env map[string]string, k, v string) map[string]string {
	env[k] = v
	return env
}

func volumeCfg(volume string) string { return backupstore.VolumeConfigPath(volume) }

// writeImage writes a sparse 12 MiB image with pseudo-random data in three extents.
func writeImage(t *testing.T, path string, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(12 << 20); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, ext := range []struct{ off, n int64 }{{0, 70000}, {5 << 20, 3 << 20}, {11 << 20, 4096}} {
		buf := make([]byte, ext.n)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(buf, ext.off); err != nil {
			t.Fatal(err)
		}
	}
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

// TestCLIManyBackups: one volume of 5,000 backups (generated cfgs). backups lists
// the newest 50 and says how many it left out; a mistyped name is answered with
// the closest and the newest.
func TestCLIManyBackups(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t, testenv.S3Options{Buckets: []string{"backups"}})
	many := testenv.ManyBackups{Volume: "vol-many", N: 5000, First: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := many.Write(filepath.Join(srv.Root, "backups")); err != nil {
		t.Fatal(err)
	}
	const target = "s3://backups@us-east-1/"
	r := mustRun(t, srv.Env(), "backups", "--backupstore", target, many.Volume)
	rows := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(rows) != 51 || !strings.Contains(rows[1], many.Name(many.N-1)) || !strings.Contains(rows[50], many.Name(many.N-50)) {
		t.Errorf("backups: %d lines; want a header and the newest 50, %s first:\n%s", len(rows), many.Name(many.N-1), r.stdout)
	}
	if want := "vol-many: 4950 older backups not listed (--limit 50; --limit 0 lists all)\n"; r.stderr != want {
		t.Errorf("backups stderr %q; want %q", r.stderr, want)
	}
	newest := many.Name(many.N - 1)
	typo := newest[:len(newest)-1] + "x"
	var avail []string
	for i := many.N - 1; i > many.N-6; i-- {
		avail = append(avail, "bak://vol-many/"+many.Name(i))
	}
	r = snaprestore(t, srv.Env(), "restore", "bak://vol-many/"+typo, "--backupstore", target, "--to", filepath.Join(t.TempDir(), "img"))
	want := fmt.Sprintf("snaprestore: backup not found: bak://vol-many/%s (no %s); did you mean bak://vol-many/%s? available backups (newest first): %s\n",
		typo, backupstore.BackupConfigPath(many.Volume, typo), newest, strings.Join(avail, ", "))
	if r.code != 1 || r.stderr != want {
		t.Errorf("restore of a mistyped name: exit %d, stderr\n%s\nwant exit 1, stderr\n%s", r.code, r.stderr, want)
	}
}
