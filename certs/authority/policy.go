package authority

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/snaprestore/snaprestore/certs/pki"
)

// needsRotation reports whether cert must be replaced at now, and why. Certificates are
// replaced at 2/3 of their lifetime (pki.RenewalTime), so a third of it remains for
// retries and for every replica to reload before anything expires.
func needsRotation(cert *x509.Certificate, now time.Time) (bool, string) {
	switch renew := pki.RenewalTime(cert); {
	case !now.Before(cert.NotAfter):
		return true, fmt.Sprintf("expired at %s", stamp(cert.NotAfter))
	case !now.Before(renew):
		return true, fmt.Sprintf("reached 2/3 of its lifetime at %s", stamp(renew))
	default:
		return false, fmt.Sprintf("valid, renewal at %s", stamp(renew))
	}
}

// servingNeedsRotation reports whether the serving certificate must be replaced at now:
// when it is missing, names other DNS names, no longer chains to a CA of the published
// bundle, or needsRotation says so. urgent is false only for a routine renewal, which
// may wait for a new CA to propagate because the current certificate still works.
func servingNeedsRotation(leaf *x509.Certificate, bundle []*x509.Certificate, dnsNames []string, now time.Time) (rotate, urgent bool, reason string) {
	if leaf == nil {
		return true, true, "missing"
	}
	if !slices.Equal(sortedCopy(leaf.DNSNames), sortedCopy(dnsNames)) {
		return true, true, fmt.Sprintf("DNS names %v differ from the expected %v", leaf.DNSNames, dnsNames)
	}
	if issuer := issuerIn(leaf, bundle); issuer == nil {
		return true, true, fmt.Sprintf("issuer %q is not in the CA bundle", leaf.Issuer.CommonName)
	}
	if !now.Before(leaf.NotAfter) {
		return true, true, fmt.Sprintf("expired at %s", stamp(leaf.NotAfter))
	}
	rotate, reason = needsRotation(leaf, now)
	return rotate, false, reason
}

// signingAllowedAt is when a routine renewal may sign with ca: once ca has been in the
// published bundle for propagation, so that API servers trust it before it is served.
func signingAllowedAt(ca *x509.Certificate, propagation time.Duration) time.Time {
	return ca.NotBefore.Add(propagation)
}

// nextBundle is the CA bundle to publish: the current CA first, then every other
// certificate of old that is still valid at now (the overlap after a CA renewal).
func nextBundle(current *x509.Certificate, old []*x509.Certificate, now time.Time) []*x509.Certificate {
	out := []*x509.Certificate{current}
	for _, c := range old {
		if !now.Before(c.NotAfter) || slices.ContainsFunc(out, func(o *x509.Certificate) bool { return bytes.Equal(o.Raw, c.Raw) }) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// issuerIn returns the CA of bundle that signed leaf, or nil.
func issuerIn(leaf *x509.Certificate, bundle []*x509.Certificate) *x509.Certificate {
	for _, ca := range bundle {
		if leaf.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
