package testenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func TestS3BinaryMissing(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"etcd", "kube-apiserver"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KUBEBUILDER_ASSETS", dir)
	_, err := RunS3(t.TempDir(), S3Options{})
	want := "versitygw not found in " + dir + " (KUBEBUILDER_ASSETS); expected the binary `make test` builds into bin/ from hack/versitygw"
	if err == nil || err.Error() != want {
		t.Errorf("RunS3 without the binary: %v; want %s", err, want)
	}
}

// TestStartS3 signs requests with the known keys, refuses others, serves the
// created bucket at both addressings and is gone after Stop.
func TestStartS3(t *testing.T) {
	t.Parallel()
	s := StartS3(t, S3Options{Buckets: []string{"bucket-1"}, TLS: true})
	ctx := context.Background()
	client := func(secret string, lookup minio.BucketLookupType) *minio.Client {
		c, err := minio.New(s.Endpoint[len("https://"):], &minio.Options{Creds: credentials.NewStaticV4(S3AccessKey, secret, ""),
			Secure: true, Transport: s.Transport(), Region: "us-east-1", BucketLookup: lookup})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, lookup := range []minio.BucketLookupType{minio.BucketLookupPath, minio.BucketLookupDNS} {
		if ok, err := client(S3SecretKey, lookup).BucketExists(ctx, "bucket-1"); !ok || err != nil {
			t.Errorf("bucket bucket-1 (lookup %d): exists %v, %v; want it", lookup, ok, err)
		}
	}
	var err error
	for o := range client("wrong", minio.BucketLookupPath).ListObjects(ctx, "bucket-1", minio.ListObjectsOptions{}) {
		err = o.Err
	}
	if minio.ToErrorResponse(err).Code != "SignatureDoesNotMatch" {
		t.Errorf("a wrong secret: %v; want SignatureDoesNotMatch", err)
	}
	s.Stop()
	if _, err := client(S3SecretKey, minio.BucketLookupPath).BucketExists(ctx, "bucket-1"); err == nil {
		t.Errorf("the server answers after Stop")
	}
}

// TestS3RestartAndPause: a server killed and restarted serves the objects written
// before on the same endpoint; a paused one accepts connections and answers
// nothing until resumed.
func TestS3RestartAndPause(t *testing.T) {
	t.Parallel()
	s := StartS3(t, S3Options{Buckets: []string{"bucket-1"}})
	ctx := context.Background()
	c, err := minio.New(s.Endpoint[len("http://"):], &minio.Options{Creds: credentials.NewStaticV4(S3AccessKey, S3SecretKey, ""),
		Transport: s.Transport(), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	const key, body = "backupstore/volumes/x/volume.cfg", "{}"
	if _, err := c.PutObject(ctx, "bucket-1", key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := c.StatObject(ctx, "bucket-1", key, minio.StatObjectOptions{}); err == nil {
		t.Fatalf("the server answers after Stop")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err == nil {
		t.Errorf("Restart of a running server: no error; want one")
	}
	if info, err := c.StatObject(ctx, "bucket-1", key, minio.StatObjectOptions{}); err != nil || info.Size != int64(len(body)) {
		t.Errorf("after Restart: %v, size %d; want the object written before", err, info.Size)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	hung, cancel := context.WithTimeout(ctx, time.Second)
	_, err = c.StatObject(hung, "bucket-1", key, minio.StatObjectOptions{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("paused server: %v; want no answer (context deadline exceeded)", err)
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StatObject(ctx, "bucket-1", key, minio.StatObjectOptions{}); err != nil {
		t.Errorf("after Resume: %v; want the object", err)
	}
	s.Stop()
	if err := s.Pause(); err == nil {
		t.Errorf("Pause of a stopped server: no error; want one")
	}
}
