package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// failoverProxy is one URL in front of several webhook processes, as a Service in
// front of the replicas, but at layer 7: it terminates TLS with the webhooks' own
// certificate, sends each review to the next backend in turn and, when that backend
// fails at the connection level (refused, reset, EOF before a response), sends the
// same review to the next one.
//
// Why layer 7: kube-apiserver does not retry a webhook call (a POST) that fails, so a
// replica killed with requests in flight fails those admissions under failurePolicy
// Fail; a TCP proxy cannot replay them either, because the TLS session ended with the
// replica. Replaying a review is sound here because every snaprestore handler is
// idempotent: validation has no side effect and the one side effect of mutation (the
// VolumeSnapshotContent and VolumeSnapshot of a bare reference) has a deterministic
// name and reuses an identical object. In a real cluster the equivalent is a retrying
// L7 proxy or mesh in front of the Service; without one, expect the in-flight
// admissions of a killed replica to fail (kube-proxy stops sending new ones once the
// endpoint is removed).
type failoverProxy struct {
	srv      *httptest.Server
	backends []string // https://host:port
	client   *http.Client
	next     atomic.Uint64
	mu       sync.Mutex
	retried  int // reviews sent again after a backend failed
}

// startFailoverProxy serves certDir's tls.crt/tls.key on loopback and verifies the
// backends against caPEM.
func startFailoverProxy(t *testing.T, certDir string, caPEM []byte, backends ...string) *failoverProxy {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA bundle holds no certificate")
	}
	p := &failoverProxy{backends: backends, client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 32},
	}}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the proxy's base URL (https://127.0.0.1:port).
func (p *failoverProxy) URL() string { return p.srv.URL }

func (p *failoverProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read review: "+err.Error(), http.StatusBadRequest)
		return
	}
	first := int(p.next.Add(1))
	var lastErr error
	for i := range p.backends {
		if i > 0 {
			p.mu.Lock()
			p.retried++
			p.mu.Unlock()
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, p.backends[(first+i)%len(p.backends)]+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := p.client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "every backend failed: "+lastErr.Error(), http.StatusBadGateway)
}

// Retried is how many reviews were sent to another backend after one failed.
func (p *failoverProxy) Retried() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retried
}
