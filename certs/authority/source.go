package authority

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// ErrCertificateNotAvailable is returned by GetCertificate (and Ready) until the serving
// Secret has been loaded once.
var ErrCertificateNotAvailable = errors.New("serving certificate not loaded yet")

// Source serves the certificate of the serving Secret. Every replica runs one; it re-reads
// the Secret every interval and swaps the certificate atomically, so handshakes in flight
// keep the one they started with.
type Source struct {
	reader   client.Reader
	key      types.NamespacedName
	interval time.Duration
	current  atomic.Pointer[loaded]
}

type loaded struct {
	cert, key []byte
	tls       *tls.Certificate
}

// NewSource returns a Source for the Secret namespace/name, polled every interval.
func NewSource(r client.Reader, namespace, name string, interval time.Duration) *Source {
	return &Source{reader: r, key: types.NamespacedName{Namespace: namespace, Name: name}, interval: interval}
}

// GetCertificate is a tls.Config.GetCertificate returning the last loaded certificate.
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if l := s.current.Load(); l != nil {
		return l.tls, nil
	}
	return nil, ErrCertificateNotAvailable
}

// Ready is a healthz.Checker: a replica without a certificate is not ready.
func (s *Source) Ready(*http.Request) error {
	if s.current.Load() == nil {
		return fmt.Errorf("secret %s: %w", s.key, ErrCertificateNotAvailable)
	}
	return nil
}

// NeedLeaderElection is false: every replica serves.
func (s *Source) NeedLeaderElection() bool { return false }

// Start loads the Secret every interval until ctx is done. Failures are logged and the
// previous certificate stays in use.
func (s *Source) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("certs")
	var lastErr string
	for {
		changed, err := s.Load(ctx)
		switch {
		case err != nil && err.Error() != lastErr:
			log.Error(err, "Load the serving certificate failed; keeping the previous one")
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
			if changed {
				log.Info("Serving certificate loaded", "secret", s.key.String(), "notAfter", s.current.Load().tls.Leaf.NotAfter)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.interval):
		}
	}
}

// Load reads the Secret once and swaps in its certificate if it changed.
func (s *Source) Load(ctx context.Context) (changed bool, err error) {
	var sec corev1.Secret
	if err := s.reader.Get(ctx, s.key, &sec); err != nil {
		return false, fmt.Errorf("read secret %s: %w", s.key, err)
	}
	c, k := sec.Data[KeyCert], sec.Data[KeyKey]
	if cur := s.current.Load(); cur != nil && bytes.Equal(cur.cert, c) && bytes.Equal(cur.key, k) {
		return false, nil
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		return false, fmt.Errorf("secret %s keys %s/%s: %w", s.key, KeyCert, KeyKey, err)
	}
	s.current.Store(&loaded{cert: c, key: k, tls: &pair})
	servingNotAfter.Set(float64(pair.Leaf.NotAfter.Unix()))
	return true, nil
}
