package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/snaprestore/snaprestore/certs/pki"
)

// S3 keys of every versitygw a test starts: the root user's, as Longhorn's
// backup-target secret carries them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
const (
	S3AccessKey = "snaprestore-test"
	S3SecretKey = "snaprestore-test-secret-key"
)

// S3Domain is the base domain of virtual-hosted-style addressing: bucket b is
// b.localhost. Go's resolver does not map *.localhost to loopback (only
// "localhost" is in /etc/hosts), so clients dial through S3.Transport or
// S3.Proxy, which send every *.localhost host to the server.
const S3Domain = "localhost"

// S3Options configure StartS3.
type S3Options struct {
	// Buckets are created before StartS3 returns.
	Buckets []string
	// TLS serves HTTPS with a certificate for localhost and *.localhost signed by a
	// CA generated for the test (S3.CACert, the AWS_CERT value).
	TLS bool
}

// S3 is a running versitygw: a real S3 server with SigV4, its posix root in a
// temporary directory of the test.
type S3 struct {
	// Endpoint is the AWS_ENDPOINTS value: http(s)://localhost:<port>.
	Endpoint string
	// Addr is the loopback address the server listens on.
	Addr string
	// CACert is the PEM CA bundle that signed the server certificate (TLS only).
	CACert []byte
	// Root is the posix directory that holds the buckets.
	Root string
	// Log is the server's output file.
	Log string

	stop func()
}

// Stop kills the server (the outage of a test); later calls do nothing. StartS3
// stops it at cleanup anyway.
func (s *S3) Stop() { s.stop() }

// Env is the backup-target secret of the server: AWS_ENDPOINTS, the keys and,
// with TLS, AWS_CERT. Set VIRTUAL_HOSTED_STYLE on a copy to change addressing.
func (s *S3) Env() map[string]string {
	env := map[string]string{"AWS_ENDPOINTS": s.Endpoint, "AWS_ACCESS_KEY_ID": S3AccessKey, "AWS_SECRET_ACCESS_KEY": S3SecretKey}
	if len(s.CACert) > 0 {
		env["AWS_CERT"] = string(s.CACert)
	}
	return env
}

// Dial connects every address of the server's port (localhost, b.localhost) to
// the server: the resolver a virtual-hosted client needs.
func (s *S3) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (host == S3Domain || strings.HasSuffix(host, "."+S3Domain)) && port == s.port() {
		addr = s.Addr
	}
	return d.DialContext(ctx, network, addr)
}

// Transport is an HTTP transport that dials with Dial and trusts CACert.
func (s *S3) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = s.Dial
	t.Proxy = nil
	if len(s.CACert) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.CACert)
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return t
}

func (s *S3) port() string {
	_, p, _ := net.SplitHostPort(s.Addr)
	return p
}

// S3Binary is the versitygw binary next to the control plane's (KUBEBUILDER_ASSETS,
// bin/ of `make test`).
func S3Binary() (string, error) {
	dir, err := Assets("")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("versitygw not found in %s (KUBEBUILDER_ASSETS); expected the binary `make test` builds into bin/ from hack/versitygw", dir)
	}
	return p, nil
}

// StartS3 starts versitygw on a free loopback port for t (RunS3 in a temporary
// directory of t), and stops it when t ends. It fails t (never skips) when the
// binary is missing.
func StartS3(t testing.TB, o S3Options) *S3 {
	t.Helper()
	s, err := RunS3(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// RunS3 starts versitygw (S3Binary) on a free loopback port with its posix root,
// log and certificates under dir, and creates o.Buckets. The caller stops it.
func RunS3(dir string, o S3Options) (*S3, error) {
	bin, err := S3Binary()
	if err != nil {
		return nil, err
	}
	s := &S3{Root: filepath.Join(dir, "root"), Log: filepath.Join(dir, "versitygw.log"), stop: func() {}}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"--access", S3AccessKey, "--secret", S3SecretKey, "--port", s.Addr,
		"--virtual-domain", S3Domain, "--quiet"}
	scheme := "http"
	if o.TLS {
		scheme = "https"
		cert, key, err := s3Certificate(dir, s)
		if err != nil {
			return nil, err
		}
		args = append(args, "--cert", cert, "--key", key)
	}
	s.Endpoint = fmt.Sprintf("%s://%s:%d", scheme, S3Domain, port)
	args = append(args, "posix", s.Root)
	logf, err := os.Create(s.Log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-exited
		})
	}
	if err := s.waitReady(exited); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.makeBuckets(o.Buckets); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// s3StartWait bounds the wait for versitygw to accept connections.
const s3StartWait = 30 * time.Second

func (s *S3) waitReady(exited chan error) error {
	deadline := time.Now().Add(s3StartWait)
	for {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("versitygw exited before it listened on %s (%v); log %s:\n%s", s.Addr, err, s.Log, readTail(s.Log))
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not listen on %s within %s; log %s:\n%s", s.Addr, s3StartWait, s.Log, readTail(s.Log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *S3) makeBuckets(buckets []string) error {
	c, err := minio.New(strings.TrimPrefix(strings.TrimPrefix(s.Endpoint, "http://"), "https://"), &minio.Options{
		Creds: credentials.NewStaticV4(S3AccessKey, S3SecretKey, ""), Secure: len(s.CACert) > 0,
		Transport: s.Transport(), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s3StartWait)
	defer cancel()
	for _, b := range buckets {
		if err := c.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			return fmt.Errorf("create bucket %q on versitygw %s: %w; log %s:\n%s", b, s.Endpoint, err, s.Log, readTail(s.Log))
		}
	}
	return nil
}

// s3Certificate writes a CA-signed certificate for localhost and *.localhost into dir.
func s3Certificate(dir string, s *S3) (certFile, keyFile string, err error) {
	now := time.Now().Add(-time.Minute)
	ca, err := pki.NewCA("snaprestore test S3 CA", now, 24*time.Hour)
	if err != nil {
		return "", "", err
	}
	leaf, err := pki.Sign(ca, []string{S3Domain, "*." + S3Domain}, now, 24*time.Hour)
	if err != nil {
		return "", "", err
	}
	certPEM, keyPEM, err := leaf.Encode()
	if err != nil {
		return "", "", err
	}
	s.CACert = pki.EncodeCerts(ca.Cert)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := errors.Join(os.WriteFile(certFile, certPEM, 0o600), os.WriteFile(keyFile, keyPEM, 0o600)); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
