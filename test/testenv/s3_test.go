package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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
