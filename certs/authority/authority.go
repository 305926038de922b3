package authority

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/snaprestore/snaprestore/certs/pki"
)

// Secret keys. Both Secrets use the kubernetes.io/tls layout; ca.crt holds the CA bundle
// in the CA Secret and the signing CA in the serving Secret.
const (
	KeyCert   = corev1.TLSCertKey
	KeyKey    = corev1.TLSPrivateKeyKey
	KeyBundle = "ca.crt"
)

// caCommonName is the subject of every CA the authority creates.
const caCommonName = "snaprestore-webhook-ca"

// labelManagedBy marks the Secrets the authority owns (uninstall removes them by label).
var labelManagedBy = map[string]string{"app.kubernetes.io/managed-by": "snaprestore"}

// Config says where the authority keeps its state and how long certificates live. All
// fields are required except Clock (default: the real clock).
type Config struct {
	Namespace, CASecret, ServingSecret string
	// DNSNames the serving certificate is valid for.
	DNSNames []string
	// ValidatingConfig and MutatingConfig name the webhook configurations whose every
	// webhook entry gets the CA bundle.
	ValidatingConfig, MutatingConfig string
	CAValidity, ServingValidity      time.Duration
	// CAPropagation is how long a new CA is published before a routine renewal of the
	// serving certificate uses it.
	CAPropagation time.Duration
	// ResyncInterval bounds the wait between two reconciles.
	ResyncInterval time.Duration
	Clock          clock.Clock
}

// Authority bootstraps, reuses and rotates the CA and serving Secrets and publishes the
// CA bundle. It is a manager runnable that runs on the leader only.
type Authority struct {
	client client.Client
	cfg    Config
}

// New returns an Authority writing through c, which should be uncached: the authority
// reads two Secrets and two configurations, no reason for cluster-wide informers.
func New(c client.Client, cfg Config) *Authority {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Authority{client: c, cfg: cfg}
}

// NeedLeaderElection makes the manager run the authority on the leader only.
func (a *Authority) NeedLeaderElection() bool { return true }

// Start reconciles until ctx is done: at every rotation time, at least every
// ResyncInterval, and with a growing backoff after errors (which it logs).
func (a *Authority) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("certs")
	const minBackoff = 250 * time.Millisecond
	backoff := minBackoff
	for {
		next, err := a.Reconcile(ctx)
		wait := a.cfg.ResyncInterval
		if err != nil {
			reconcileErrors.Inc()
			log.Error(err, "Reconcile builtin certificates failed", "retryAfter", backoff)
			wait, backoff = backoff, min(2*backoff, a.cfg.ResyncInterval)
		} else {
			backoff = minBackoff
			if d := next.Sub(a.cfg.Clock.Now()); d < wait {
				wait = max(d, 0)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.cfg.Clock.After(wait):
		}
	}
}

// Reconcile makes the Secrets and the published bundle current, in the order that keeps
// every request verifiable: CA first, then the caBundle of the configurations, then the
// serving certificate. It returns when it next has work to do.
func (a *Authority) Reconcile(ctx context.Context) (time.Time, error) {
	now := a.cfg.Clock.Now()
	ca, bundle, caNext, err := a.ensureCA(ctx, now)
	if err != nil {
		return time.Time{}, err
	}
	if err := a.publish(ctx, pki.EncodeCerts(bundle...)); err != nil {
		return time.Time{}, err
	}
	leafNext, err := a.ensureServing(ctx, ca, bundle, now)
	if err != nil {
		return time.Time{}, err
	}
	return earliest(caNext, leafNext), nil
}

// ensureCA returns the current CA and the bundle to publish, renewing the CA (and
// keeping the old one in the bundle until it expires) when needsRotation says so.
func (a *Authority) ensureCA(ctx context.Context, now time.Time) (*pki.KeyPair, []*x509.Certificate, time.Time, error) {
	log := logf.FromContext(ctx).WithName("certs")
	s, err := a.secret(ctx, a.cfg.CASecret)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	what := fmt.Sprintf("secret %s/%s", a.cfg.Namespace, a.cfg.CASecret)
	var old []*x509.Certificate
	reason := "missing"
	var kp *pki.KeyPair
	if s != nil {
		if raw := s.Data[KeyBundle]; len(raw) > 0 {
			if old, err = pki.DecodeCerts(what+" key "+KeyBundle, raw); err != nil {
				log.Error(err, "Ignoring an unreadable CA bundle")
			}
		}
		if kp, err = pki.ParseKeyPair(what, s.Data[KeyCert], s.Data[KeyKey]); err != nil {
			reason = err.Error()
		} else if rotate, why := needsRotation(kp.Cert, now); rotate {
			reason = why
			old = append(old, kp.Cert)
			kp = nil
		}
	}
	issuedCA := kp == nil
	if issuedCA {
		if kp, err = pki.NewCA(caCommonName, now, a.cfg.CAValidity); err != nil {
			return nil, nil, time.Time{}, err
		}
		log.Info("Issuing a new CA", "secret", a.cfg.CASecret, "reason", reason, "notAfter", kp.Cert.NotAfter)
	}
	bundle := nextBundle(kp.Cert, old, now)
	next := pki.RenewalTime(kp.Cert)
	for _, c := range bundle[1:] {
		next = earliest(next, c.NotAfter) // prune it from the bundle then
	}
	certPEM, keyPEM, err := kp.Encode()
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	data := map[string][]byte{KeyCert: certPEM, KeyKey: keyPEM, KeyBundle: pki.EncodeCerts(bundle...)}
	if err := a.write(ctx, s, a.cfg.CASecret, data); err != nil {
		return nil, nil, time.Time{}, err
	}
	if issuedCA {
		issued.WithLabelValues(kindCA).Inc()
	}
	return kp, bundle, next, nil
}

// ensureServing renews the serving certificate when servingNeedsRotation says so. A
// routine renewal waits until the current CA has been published for CAPropagation.
func (a *Authority) ensureServing(ctx context.Context, ca *pki.KeyPair, bundle []*x509.Certificate, now time.Time) (time.Time, error) {
	log := logf.FromContext(ctx).WithName("certs")
	s, err := a.secret(ctx, a.cfg.ServingSecret)
	if err != nil {
		return time.Time{}, err
	}
	var leaf *x509.Certificate
	var parseErr error
	if s != nil {
		kp, err := pki.ParseKeyPair(fmt.Sprintf("secret %s/%s", a.cfg.Namespace, a.cfg.ServingSecret), s.Data[KeyCert], s.Data[KeyKey])
		if err == nil {
			leaf = kp.Cert
		}
		parseErr = err
	}
	rotate, urgent, reason := servingNeedsRotation(leaf, bundle, a.cfg.DNSNames, now)
	if parseErr != nil {
		reason = parseErr.Error()
	}
	if !rotate {
		return pki.RenewalTime(leaf), nil
	}
	if at := signingAllowedAt(ca.Cert, a.cfg.CAPropagation); !urgent && now.Before(at) {
		log.V(1).Info("Serving certificate renewal waits for the new CA to propagate", "until", at)
		return at, nil
	}
	kp, err := pki.Sign(ca, a.cfg.DNSNames, now, a.cfg.ServingValidity)
	if err != nil {
		return time.Time{}, err
	}
	certPEM, keyPEM, err := kp.Encode()
	if err != nil {
		return time.Time{}, err
	}
	log.Info("Issuing a serving certificate", "secret", a.cfg.ServingSecret, "reason", reason, "notAfter", kp.Cert.NotAfter)
	data := map[string][]byte{KeyCert: certPEM, KeyKey: keyPEM, KeyBundle: pki.EncodeCerts(ca.Cert)}
	if err := a.write(ctx, s, a.cfg.ServingSecret, data); err != nil {
		return time.Time{}, err
	}
	issued.WithLabelValues(kindServing).Inc()
	return pki.RenewalTime(kp.Cert), nil
}

// secret reads the named Secret of the namespace; a missing one is (nil, nil).
func (a *Authority) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	err := a.client.Get(ctx, types.NamespacedName{Namespace: a.cfg.Namespace, Name: name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read secret %s/%s: %w", a.cfg.Namespace, name, err)
	}
	return &s, nil
}

// write creates the Secret (existing == nil) or updates existing when its data differs.
// The update carries existing's resourceVersion, so a concurrent writer makes it fail.
func (a *Authority) write(ctx context.Context, existing *corev1.Secret, name string, data map[string][]byte) error {
	if existing == nil {
		s := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: data}
		s.Namespace, s.Name, s.Labels = a.cfg.Namespace, name, labelManagedBy
		if err := a.client.Create(ctx, s); err != nil {
			return fmt.Errorf("create secret %s/%s: %w", a.cfg.Namespace, name, err)
		}
		return nil
	}
	if equalData(existing.Data, data) {
		return nil
	}
	s := existing.DeepCopy()
	s.Data = data
	if err := a.client.Update(ctx, s); err != nil {
		return fmt.Errorf("update secret %s/%s: %w", a.cfg.Namespace, name, err)
	}
	return nil
}

func equalData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || string(w) != string(v) {
			return false
		}
	}
	return true
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
