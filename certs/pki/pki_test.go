package pki

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSignAndRoundTrip(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test-ca", t0, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Sign(ca, []string{"svc.ns.svc", "svc.ns.svc.cluster.local"}, t0.Add(time.Hour), 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: "svc.ns.svc.cluster.local", Roots: pool, CurrentTime: t0.Add(2 * time.Hour)}); err != nil {
		t.Errorf("leaf does not verify against its CA: %v", err)
	}
	certPEM, keyPEM, err := leaf.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeyPair("leaf", certPEM, keyPEM)
	if err != nil {
		t.Fatalf("ParseKeyPair: %v", err)
	}
	if !back.Cert.Equal(leaf.Cert) || !back.Key.Equal(leaf.Key) {
		t.Errorf("round trip changed the key pair")
	}
	bundle, err := DecodeCerts("bundle", EncodeCerts(ca.Cert, leaf.Cert))
	if err != nil || len(bundle) != 2 || !bundle[0].Equal(ca.Cert) || !bundle[1].Equal(leaf.Cert) {
		t.Errorf("DecodeCerts(EncodeCerts(ca, leaf)) = %d certs, %v", len(bundle), err)
	}
}

func TestSignNeverOutlivesCA(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test-ca", t0, 10*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Sign(ca, []string{"a"}, t0.Add(8*time.Hour), 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf NotAfter = %s, want the CA's %s", leaf.Cert.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := Sign(ca, []string{"a"}, t0.Add(10*time.Hour), time.Hour); !errors.Is(err, ErrCANotValid) {
		t.Errorf("Sign after the CA expired: err = %v, want ErrCANotValid", err)
	}
}

func TestRenewalTime(t *testing.T) {
	t.Parallel()
	c := &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(90 * time.Hour)}
	if got, want := RenewalTime(c), t0.Add(60*time.Hour); !got.Equal(want) {
		t.Errorf("RenewalTime = %s, want %s", got, want)
	}
}

func TestErrorsNameTheBadValue(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test-ca", t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other", t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, _ := ca.Encode()
	_, otherKey, _ := other.Encode()
	leaf, err := Sign(ca, []string{"a"}, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"short CA", func() error { _, err := NewCA("x", t0, time.Millisecond); return err }, "CA validity 1ms is below the minimum 1s"},
		{"empty name", func() error { _, err := NewCA("", t0, time.Hour); return err }, "CA common name is empty"},
		{"no DNS names", func() error { _, err := Sign(ca, nil, t0, time.Hour); return err }, "sign: no DNS names"},
		{"leaf as CA", func() error { _, err := Sign(leaf, []string{"a"}, t0, time.Hour); return err }, `certificate "a" is not a CA`},
		{"not PEM", func() error { _, err := DecodeCerts("secret ns/x key tls.crt", []byte("junk")); return err }, `secret ns/x key tls.crt: no PEM "CERTIFICATE" block in 4 bytes`},
		{"key as cert", func() error { _, err := DecodeCerts("f", otherKey); return err }, `f: PEM block 0 has type "EC PRIVATE KEY": expected "CERTIFICATE"`},
		{"cert as key", func() error { _, err := DecodeKey("k", certPEM); return err }, `k: PEM block type "CERTIFICATE": expected "EC PRIVATE KEY" or "PRIVATE KEY"`},
		{"mismatch", func() error { _, err := ParseKeyPair("secret ns/ca", certPEM, otherKey); return err }, "secret ns/ca: private key does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
