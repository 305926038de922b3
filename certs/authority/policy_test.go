package authority

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snaprestore/snaprestore/certs/pki"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestNeedsRotation(t *testing.T) {
	t.Parallel()
	c := &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(90 * time.Hour)}
	for _, tc := range []struct {
		name   string
		now    time.Time
		rotate bool
		reason string
	}{
		{"fresh", t0, false, "valid, renewal at 2026-03-04T00:00:00Z"},
		{"just before 2/3", t0.Add(60*time.Hour - time.Second), false, "valid, renewal at 2026-03-04T00:00:00Z"},
		{"at 2/3", t0.Add(60 * time.Hour), true, "reached 2/3 of its lifetime at 2026-03-04T00:00:00Z"},
		{"expired", t0.Add(90 * time.Hour), true, "expired at 2026-03-05T06:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rotate, reason := needsRotation(c, tc.now)
			if rotate != tc.rotate || reason != tc.reason {
				t.Errorf("needsRotation(now=%s) = %v, %q; want %v, %q", tc.now, rotate, reason, tc.rotate, tc.reason)
			}
		})
	}
}

func TestServingNeedsRotation(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, t0, 300*time.Hour)
	other := mustCA(t, t0, 300*time.Hour)
	names := []string{"svc.ns.svc", "svc.ns.svc.cluster.local"}
	leaf := mustSign(t, ca, names, t0, 90*time.Hour)
	for _, tc := range []struct {
		name           string
		leaf           *x509.Certificate
		bundle         []*x509.Certificate
		names          []string
		now            time.Time
		rotate, urgent bool
		reason         string
	}{
		{"missing", nil, []*x509.Certificate{ca.Cert}, names, t0, true, true, "missing"},
		{"current", leaf, []*x509.Certificate{ca.Cert}, names, t0.Add(time.Hour), false, false, "valid, renewal at 2026-03-04T00:00:00Z"},
		{"names in another order", leaf, []*x509.Certificate{ca.Cert}, []string{names[1], names[0]}, t0, false, false, "valid, renewal at 2026-03-04T00:00:00Z"},
		{"service renamed", leaf, []*x509.Certificate{ca.Cert}, []string{"new.ns.svc"}, t0, true, true, "DNS names [svc.ns.svc svc.ns.svc.cluster.local] differ from the expected [new.ns.svc]"},
		{"issuer dropped", leaf, []*x509.Certificate{other.Cert}, names, t0, true, true, `issuer "snaprestore-webhook-ca" is not in the CA bundle`},
		{"issuer still in overlap bundle", leaf, []*x509.Certificate{other.Cert, ca.Cert}, names, t0, false, false, "valid, renewal at 2026-03-04T00:00:00Z"},
		{"routine renewal", leaf, []*x509.Certificate{ca.Cert}, names, t0.Add(61 * time.Hour), true, false, "reached 2/3 of its lifetime at 2026-03-04T00:00:00Z"},
		{"expired", leaf, []*x509.Certificate{ca.Cert}, names, t0.Add(90 * time.Hour), true, true, "expired at 2026-03-05T06:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rotate, urgent, reason := servingNeedsRotation(tc.leaf, tc.bundle, tc.names, tc.now)
			if rotate != tc.rotate || urgent != tc.urgent || reason != tc.reason {
				t.Errorf("servingNeedsRotation = %v, %v, %q; want %v, %v, %q", rotate, urgent, reason, tc.rotate, tc.urgent, tc.reason)
			}
		})
	}
}

func TestNextBundle(t *testing.T) {
	t.Parallel()
	oldCA := mustCA(t, t0, 30*time.Hour)
	newCA := mustCA(t, t0.Add(20*time.Hour), 30*time.Hour)
	for _, tc := range []struct {
		name string
		old  []*x509.Certificate
		now  time.Time
		want []*x509.Certificate
	}{
		{"bootstrap", nil, t0, []*x509.Certificate{newCA.Cert}},
		{"overlap keeps the old CA", []*x509.Certificate{oldCA.Cert}, t0.Add(21 * time.Hour), []*x509.Certificate{newCA.Cert, oldCA.Cert}},
		{"restart keeps order, no duplicates", []*x509.Certificate{newCA.Cert, oldCA.Cert}, t0.Add(21 * time.Hour), []*x509.Certificate{newCA.Cert, oldCA.Cert}},
		{"expired old CA is dropped", []*x509.Certificate{newCA.Cert, oldCA.Cert}, t0.Add(30 * time.Hour), []*x509.Certificate{newCA.Cert}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nextBundle(newCA.Cert, tc.old, tc.now)
			if diff := cmp.Diff(serials(tc.want), serials(got)); diff != "" {
				t.Errorf("nextBundle serials (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSigningAllowedAt(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, t0, 30*time.Hour)
	if got, want := signingAllowedAt(ca.Cert, 2*time.Minute), t0.Add(2*time.Minute); !got.Equal(want) {
		t.Errorf("signingAllowedAt = %s, want %s", got, want)
	}
}

func mustCA(t *testing.T, notBefore time.Time, validity time.Duration) *pki.KeyPair {
	t.Helper()
	ca, err := pki.NewCA(caCommonName, notBefore, validity)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustSign(t *testing.T, ca *pki.KeyPair, names []string, notBefore time.Time, validity time.Duration) *x509.Certificate {
	t.Helper()
	kp, err := pki.Sign(ca, names, notBefore, validity)
	if err != nil {
		t.Fatal(err)
	}
	return kp.Cert
}

func serials(cs []*x509.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.SerialNumber.String())
	}
	return out
}
