package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Options configure a Store. Zero values are the defaults.
type Options struct {
	Bucket string // required
	Region string // default: us-east-1 when Endpoint is empty, else the endpoint's
	// Prefix is the path inside the bucket; objects live under <Prefix>/backupstore/.
	// Empty: the bucket root (s3://bucket@region/), Longhorn's documented S3 target.
	Prefix string
	// Endpoint is an http(s) URL of an S3-compatible server (AWS_ENDPOINTS);
	// default: AWS (s3.amazonaws.com).
	Endpoint string
	// AccessKey, SecretKey, SessionToken; empty access key means anonymous.
	AccessKey, SecretKey, SessionToken string
	// CACert is a PEM bundle trusted in addition to the system roots (AWS_CERT).
	CACert []byte
	// VirtualHosted selects virtual-hosted-style addressing; default path-style
	// for a custom endpoint, as Longhorn does.
	VirtualHosted bool
	// Transport overrides the HTTP transport (tests); CACert is then ignored.
	Transport http.RoundTripper
	// MaxRetries of minio-go per request; default 3.
	MaxRetries int
}

// ParseURL fills Bucket, Region and Prefix from s3://bucket@region/path. The path
// may be empty (s3://bucket@region/): Longhorn then keeps backupstore/ in the
// bucket root.
func (o *Options) ParseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("backupstore URL %q: %w", raw, err)
	}
	if u.Scheme != "s3" {
		return fmt.Errorf("backupstore URL %q: scheme %q; expected s3://bucket@region/ or s3://bucket@region/path", raw, u.Scheme)
	}
	o.Bucket = u.Host
	if u.User != nil {
		o.Bucket, o.Region = u.User.Username(), u.Host
	}
	o.Prefix = strings.Trim(u.Path, "/")
	if o.Bucket == "" {
		return fmt.Errorf("backupstore URL %q: missing bucket; expected s3://bucket@region/ or s3://bucket@region/path", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("backupstore URL %q: unexpected query or fragment; expected s3://bucket@region/ or s3://bucket@region/path", raw)
	}
	return nil
}

// OptionsFromEnv reads the variables of Longhorn's backup-target secret with
// getenv (os.Getenv in the CLI).
func OptionsFromEnv(getenv func(string) string) Options {
	o := Options{
		Endpoint:     getenv("AWS_ENDPOINTS"),
		AccessKey:    getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:    getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: getenv("AWS_SESSION_TOKEN"),
		Region:       getenv("AWS_REGION"),
	}
	if c := getenv("AWS_CERT"); c != "" {
		o.CACert = []byte(c)
	}
	o.VirtualHosted = strings.EqualFold(getenv("VIRTUAL_HOSTED_STYLE"), "true")
	return o
}

// Store reads (and for the backup writer, writes) objects of one bucket prefix.
type Store struct {
	client   *minio.Client
	bucket   string
	prefix   string
	endpoint string // for errors: the AWS_ENDPOINTS value or the AWS host
}

// New builds a client; it does not contact the server.
func New(o Options) (*Store, error) {
	if o.AccessKey == "" && o.SecretKey != "" {
		return nil, errors.New("s3 credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is empty")
	}
	if o.AccessKey != "" && o.SecretKey == "" {
		return nil, errors.New("s3 credentials: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is empty")
	}
	host, secure := "s3.amazonaws.com", true
	lookup := minio.BucketLookupAuto
	if o.Endpoint != "" {
		ep := o.Endpoint
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("s3 endpoint %q (AWS_ENDPOINTS); expected http(s)://host[:port]", o.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
		lookup = minio.BucketLookupPath
		if o.VirtualHosted {
			lookup = minio.BucketLookupDNS
		}
	}
	region := o.Region
	if region == "" && o.Endpoint == "" {
		region = "us-east-1"
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if len(o.CACert) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(o.CACert) {
				return nil, errors.New("s3 CA bundle (AWS_CERT): no PEM certificate found")
			}
			t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		tr = t
	}
	var creds *credentials.Credentials
	if o.AccessKey != "" {
		creds = credentials.NewStaticV4(o.AccessKey, o.SecretKey, o.SessionToken)
	} else {
		creds = credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	}
	retries := o.MaxRetries
	if retries == 0 {
		retries = 3
	}
	c, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Transport: tr,
		Region: region, BucketLookup: lookup, MaxRetries: retries})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	endpoint := "AWS S3 (" + host + ")"
	if o.Endpoint != "" {
		endpoint = o.Endpoint + " (AWS_ENDPOINTS)"
	}
	return &Store{client: c, bucket: o.Bucket, prefix: strings.Trim(o.Prefix, "/"), endpoint: endpoint}, nil
}

func (s *Store) key(k string) string { return path.Join(s.prefix, k) }

// Open gets an object in one GET; NoSuchKey wraps fs.ErrNotExist. (minio-go's
// Client.GetObject answers a first Stat with a HEAD, whose bodiless 404 cannot tell
// a missing key from a missing bucket or an unknown access key.)
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, s.key(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	return rc, nil
}

// List lists the names directly under dir.
func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	m, err := s.ListModified(ctx, dir)
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, err
}

// ListModified is List with each object's LastModified, which every LIST page
// carries (zero for a common prefix, a "subdirectory"): one request per 1,000 names.
func (s *Store) ListModified(ctx context.Context, dir string) (map[string]time.Time, error) {
	p := s.key(dir) + "/"
	out := map[string]time.Time{}
	noOwner := false // owners are not needed, and cost the server a lookup per key
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: p, FetchOwner: &noOwner}) {
		if obj.Err != nil {
			return nil, s.wrap("list", dir, obj.Err)
		}
		n, isDir := strings.CutSuffix(strings.TrimPrefix(obj.Key, p), "/")
		if n == "" {
			continue
		}
		if isDir {
			out[n] = time.Time{}
		} else {
			out[n] = obj.LastModified
		}
	}
	return out, nil
}

// Exists reports whether an object exists.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.client.StatObject(ctx, s.bucket, s.key(key), minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if err := s.wrap("stat", key, err); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else {
		return false, err
	}
}

// Put uploads an object in one request.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.key(key), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}
