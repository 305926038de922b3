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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	// Log is the server's output file (each start appends to it).
	Log string

	bin  string
	args []string
	mu   sync.Mutex
	proc *Process // nil once stopped
}

// Stop kills the server with SIGKILL (the outage of a test: its connections are
// reset, its port refuses); later calls do nothing. StartS3 stops it at cleanup
// anyway.
func (s *S3) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
}

// Restart starts a stopped server again with the same command line: the same
// port, keys, certificate and posix root, so the buckets and objects written
// before are served again. It returns once the port accepts connections.
func (s *S3) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("restart versitygw on %s: it is still running; Stop it first", s.Addr)
	}
	return s.launch()
}

// Pause freezes the server with SIGSTOP: connections are still accepted by the
// kernel, nothing answers (a hung endpoint, the nastier real case of an outage).
// Resume lets it go on; Stop kills it paused or not.
func (s *S3) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume undoes Pause (SIGCONT).
func (s *S3) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *S3) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return fmt.Errorf("signal %s to versitygw on %s: it is stopped", sig, s.Addr)
	}
	return s.proc.Signal(sig)
}

// Env is the backup-target secret of the server: AWS_ENDPOINTS, the keys and,
// with TLS, AWS_CERT. Set VIRTUAL_HOSTED_STYLE on a copy to change addressing.
func (s *S3) Env() map[string]string {
	env := map[string]string{"AWS_ENDPOINTS": s.Endpoint, "AWS_ACCESS_KEY_ID": S3AccessKey, "AWS_SECRET_ACCESS_KEY": S3SecretKey}
	if len(s.CACert) > 0 {
		env["AWS_CERT"] = string(s.CACert)
	}
	return env
}

// EnvWith is Env with the key, value pairs kv set on top: a damaged secret
// ("AWS_SECRET_ACCESS_KEY", "wrong") for a test of the error users see.
func (s *S3) EnvWith(kv ...string) map[string]string {
	env := s.Env()
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// ClosedEndpoint is an http:// loopback endpoint that refuses every request:
// the unreachable store of a test. It holds its port until t ends (a port
// merely closed can be taken meanwhile by another test's server) and closes
// each connection unread.
func ClosedEndpoint(t testing.TB) string {
	t.Helper()
	return ServeConns(t, func(c net.Conn) { c.Close() })
}

// ServeConns listens on a loopback port until t ends and hands each accepted
// connection to handle (close it: a refusing server; keep it: a hung one). It
// returns the http:// URL of the port.
func ServeConns(t testing.TB, handle func(net.Conn)) string {
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
			handle(c)
		}
	}()
	return "http://" + l.Addr().String()
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
	s := &S3{Root: filepath.Join(dir, "root"), Log: filepath.Join(dir, "versitygw.log"), bin: bin}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, err
	}
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.args = []string{"--access", S3AccessKey, "--secret", S3SecretKey, "--port", s.Addr,
		"--virtual-domain", S3Domain, "--quiet"}
	scheme := "http"
	if o.TLS {
		scheme = "https"
		cert, key, err := s3Certificate(dir, s)
		if err != nil {
			return nil, err
		}
		s.args = append(s.args, "--cert", cert, "--key", key)
	}
	s.Endpoint = fmt.Sprintf("%s://%s:%d", scheme, S3Domain, port)
	s.args = append(s.args, "posix", s.Root)
	s.mu.Lock()
	err = s.launch()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.makeBuckets(o.Buckets); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// launch starts the process and waits until it listens; s.mu is held.
func (s *S3) launch() error {
	p, err := StartProcess("versitygw", s.Log, s.bin, s.args...)
	if err != nil {
		return err
	}
	if err := s.waitReady(p); err != nil {
		p.Kill()
		return err
	}
	s.proc = p
	return nil
}

// s3StartWait bounds the wait for versitygw to accept connections.
const s3StartWait = 30 * time.Second

func (s *S3) waitReady(p *Process) error {
	deadline := time.Now().Add(s3StartWait)
	for {
		if p.Exited() {
			return fmt.Errorf("versitygw exited before it listened on %s (%v); log %s:\n%s", s.Addr, p.Err(), s.Log, readTail(s.Log))
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

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
