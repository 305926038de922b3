package s3

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseURLAndEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url  string
		env  map[string]string
		want Options
		err  string
	}{
		{url: "s3://backups@us-west-2/longhorn/cluster-a", want: Options{Bucket: "backups", Region: "us-west-2", Prefix: "longhorn/cluster-a"}},
		{url: "s3://backups/longhorn", env: map[string]string{"AWS_REGION": "eu-central-1"},
			want: Options{Bucket: "backups", Region: "eu-central-1", Prefix: "longhorn"}},
		{url: "s3://backups@minio/x", env: map[string]string{
			"AWS_ENDPOINTS": "https://minio:9000", "AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk",
			"AWS_SESSION_TOKEN": "st", "VIRTUAL_HOSTED_STYLE": "true", "AWS_CERT": "PEM"},
			want: Options{Bucket: "backups", Region: "minio", Prefix: "x", Endpoint: "https://minio:9000", AccessKey: "ak",
				SecretKey: "sk", SessionToken: "st", VirtualHosted: true, CACert: []byte("PEM")}},
		// The bucket root is Longhorn's documented S3 target (issue #13).
		{url: "s3://backups@us-east-1/", want: Options{Bucket: "backups", Region: "us-east-1"}},
		{url: "s3://backups@us-east-1", want: Options{Bucket: "backups", Region: "us-east-1"}},
		{url: "s3://@us-east-1/x", err: `backupstore URL "s3://@us-east-1/x": missing bucket; expected s3://bucket@region/ or s3://bucket@region/path`},
		{url: "s3:///x", err: `backupstore URL "s3:///x": missing bucket; expected s3://bucket@region/ or s3://bucket@region/path`},
		{url: "s3://backups@us-east-1/?backup=b&volume=v", err: `backupstore URL "s3://backups@us-east-1/?backup=b&volume=v": unexpected query or fragment; expected s3://bucket@region/ or s3://bucket@region/path`},
		{url: "file:///x", err: `backupstore URL "file:///x": scheme "file"; expected s3://bucket@region/ or s3://bucket@region/path`},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			t.Parallel()
			o := OptionsFromEnv(func(k string) string { return c.env[k] })
			err := o.ParseURL(c.url)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Errorf("error %v; want %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, o); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRejectsHalfCredentials(t *testing.T) {
	t.Parallel()
	_, err := New(Options{Bucket: "b", Prefix: "p", SecretKey: "s"})
	if want := "s3 credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is empty"; err == nil || err.Error() != want {
		t.Errorf("New = %v; want %s", err, want)
	}
	_, err = New(Options{Bucket: "b", Prefix: "p", Endpoint: "ftp://x"})
	if want := `s3 endpoint "ftp://x" (AWS_ENDPOINTS); expected http(s)://host[:port]`; err == nil || err.Error() != want {
		t.Errorf("New = %v; want %s", err, want)
	}
}
