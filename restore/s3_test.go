package restore

import (
	"context"
	"encoding/pem"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/snaprestore/snaprestore/restore/backupstore"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// flakyHandler answers the first failures GETs of each .blk object with 503,
// as an overloaded S3 endpoint does.
type flakyHandler struct {
	next     http.Handler
	failures int
	mu       sync.Mutex
	seen     map[string]int
	injected int
}

func (h *flakyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".blk") {
		h.mu.Lock()
		h.seen[r.URL.Path]++
		fail := h.seen[r.URL.Path] <= h.failures
		if fail {
			h.injected++
		}
		h.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

// s3Fixture serves every fixture folder from an in-process S3 server over
// real HTTP, under s3://backups@us-east-1/<folder>.
func s3Fixture(t *testing.T, failures int) (*flakyHandler, func(folder string) *Store) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	h := &flakyHandler{next: gofakes3.New(backend).Server(), failures: failures, seen: map[string]int{}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	env := map[string]string{
		"AWS_ENDPOINTS": srv.URL, "AWS_ACCESS_KEY_ID": "test-access", "AWS_SECRET_ACCESS_KEY": "test-secret",
	}
	open := func(folder string) *Store {
		st, err := OpenStore("s3://backups@us-east-1/"+folder, StoreOptions{Getenv: func(k string) string { return env[k] }})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		st := open(e.Name())
		root := filepath.Join(fixtures, e.Name())
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			return st.objs.Put(context.Background(), filepath.ToSlash(rel), data)
		})
		if err != nil {
			t.Fatalf("upload fixtures: %v", err)
		}
	}
	return h, open
}

func TestRestoreFixturesFromS3(t *testing.T) {
	t.Parallel()
	h, open := s3Fixture(t, 1)
	for _, c := range readCases(t) {
		t.Run(c.folder+"/"+c.backup, func(t *testing.T) {
			t.Parallel()
			st := open(c.folder)
			target := filepath.Join(t.TempDir(), "image")
			if _, err := Restore(context.Background(), st.Store, c.volume, c.backup, target, Options{}); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if got := testenv.FileSHA256(t, target); got != c.sha256 {
				t.Errorf("sha256 = %s; want %s (Longhorn's restore)", got, c.sha256)
			}
			rep, err := Verify(context.Background(), st.Store, c.volume, c.backup, VerifyOptions{})
			if err != nil || !rep.OK() {
				t.Errorf("Verify = %+v, %v; want no problems", rep.Problems, err)
			}
		})
	}
	t.Run("listing", func(t *testing.T) {
		t.Parallel()
		vols, err := List(context.Background(), open("lz4-chain").Store, ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range vols {
			for _, b := range v.Backups {
				got = append(got, b.Handle+" "+b.State)
			}
		}
		want := "bak://vol-lz4/backup-a94d0f6e2b1c7358 completed,bak://vol-lz4/backup-1c0e4b2f9a7d6835 completed,bak://vol-lz4/backup-7f3a9c21d4e85b60 completed"
		if strings.Join(got, ",") != want {
			t.Errorf("backups newest first:\n got %s\nwant %s", strings.Join(got, ","), want)
		}
	})
	t.Cleanup(func() {
		if h.injected == 0 {
			t.Errorf("no 503 was injected; the retry path was not exercised")
		}
	})
}

func TestS3TransientAndPersistentErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		failures int // 503s per block object before it is served
		wantErr  string
	}{
		// minio-go retries 3 times per request; 4 failures need the engine's retry.
		{name: "outlasting the client's retries", failures: 4},
		{name: "persistent 503", failures: 1 << 30,
			wantErr: "bak://vol-gzip/backup-5b2e8d1f0c4a9367: block at offset 0 (backupstore/volumes/8b/14/vol-gzip/blocks/27/fc/27fcb8a5e7aa642782f69015a96be64c52b28201c7954cd91d3f205de1dffbcb.blk): read block (attempt 5): get s3://backups/gzip-single/backupstore/volumes/8b/14/vol-gzip/blocks/27/fc/27fcb8a5e7aa642782f69015a96be64c52b28201c7954cd91d3f205de1dffbcb.blk: Please reduce your request rate."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h, open := s3Fixture(t, c.failures)
			st := open("gzip-single")
			target := filepath.Join(t.TempDir(), "image")
			_, err := Restore(context.Background(), st.Store, "vol-gzip", "backup-5b2e8d1f0c4a9367", target, Options{Concurrency: 1})
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Restore: %v", err)
				}
				if got, want := testenv.FileSHA256(t, target), "4e90e706e2a273f7a2e0c03b0a5f987c36d6fb740ad5eaeac722b9192f763a16"; got != want {
					t.Errorf("sha256 %s; want %s", got, want)
				}
				return
			}
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("Restore error\n got %v\nwant %s", err, c.wantErr)
			}
			if errors.Is(err, backupstore.ErrChecksumMismatch) || errors.Is(err, backupstore.ErrBlockMissing) {
				t.Errorf("a store outage reported as %v", err)
			}
			if h.injected < 5 {
				t.Errorf("%d requests; want the engine to retry", h.injected)
			}
		})
	}
}

// TestS3TLSAndBackupWriter writes a backup through the S3 driver to a TLS
// endpoint trusted via AWS_CERT (as Longhorn's backup-target secret carries
// it), then restores it.
func TestS3TLSAndBackupWriter(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	if err := backend.CreateBucket("tls"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	env := map[string]string{"AWS_ENDPOINTS": srv.URL, "AWS_CERT": string(ca),
		"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
	st, err := OpenStore("s3://tls@us-east-1/cluster-a", StoreOptions{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "src.img")
	writeImage(t, img, 8<<20, 9, map[int64]int{0: 70000, 5 << 20: 3 << 20})
	ctx := context.Background()
	if _, err := WriteBackup(ctx, st, BackupOptions{Volume: "vol-s3", Image: img, Backup: "backup-s3"}); err != nil {
		t.Fatalf("WriteBackup: %v", err)
	}
	out := filepath.Join(dir, "restored.img")
	if _, err := Restore(ctx, st.Store, "vol-s3", "backup-s3", out, Options{}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if testenv.FileSHA256(t, out) != testenv.FileSHA256(t, img) {
		t.Errorf("restored image differs from the source image")
	}
}

// TestS3BucketRootTarget restores from a backup target at the root of a bucket,
// the form Longhorn's S3 setup guide uses (s3://backupbucket@us-east-1/), opened
// by the flag's spellings and by the backup URL the Longhorn UI shows for it.
func TestS3BucketRootTarget(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	if err := backend.CreateBucket("backupbucket"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	env := map[string]string{"AWS_ENDPOINTS": srv.URL, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
	getenv := func(k string) string { return env[k] }
	root, err := OpenStore("s3://backupbucket@us-east-1/", StoreOptions{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(fixtures, "gzip-single")
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		return root.objs.Put(context.Background(), filepath.ToSlash(rel), data)
	})
	if err != nil {
		t.Fatalf("upload fixture: %v", err)
	}
	if _, err := backend.HeadObject("backupbucket", "backupstore/volumes/8b/14/vol-gzip/volume.cfg"); err != nil {
		t.Fatalf("volume.cfg is not at backupstore/ in the bucket root, where Longhorn writes it: %v", err)
	}
	ui, err := ParseReference("s3://backupbucket@us-east-1/?backup=backup-5b2e8d1f0c4a9367&volume=vol-gzip")
	if err != nil {
		t.Fatal(err)
	}
	const want = "4e90e706e2a273f7a2e0c03b0a5f987c36d6fb740ad5eaeac722b9192f763a16"
	for _, u := range []string{"s3://backupbucket@us-east-1/", "s3://backupbucket@us-east-1", ui.Backupstore} {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			st, err := OpenStore(u, StoreOptions{Getenv: getenv})
			if err != nil {
				t.Fatalf("OpenStore: %v", err)
			}
			vols, err := List(context.Background(), st.Store, ListOptions{})
			if err != nil || len(vols) != 1 || len(vols[0].Backups) != 1 || vols[0].Backups[0].Handle != ui.Handle() {
				t.Fatalf("List = %+v, %v; want the one backup %s", vols, err, ui.Handle())
			}
			target := filepath.Join(t.TempDir(), "image")
			if _, err := Restore(context.Background(), st.Store, ui.Volume, ui.Backup, target, Options{}); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if got := testenv.FileSHA256(t, target); got != want {
				t.Errorf("sha256 = %s; want %s (Longhorn's restore)", got, want)
			}
		})
	}
}
