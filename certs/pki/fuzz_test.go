package pki

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseKeyPair feeds arbitrary Secret contents to the decoders: they must not panic,
// and whatever they accept must encode back to PEM that decodes to the same pair.
func FuzzParseKeyPair(f *testing.F) {
	ca, err := NewCA("fuzz-ca", time.Unix(0, 0), time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(certPEM, keyPEM)
	f.Add(keyPEM, certPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte{})
	f.Add(append(bytes.Clone(certPEM), "trailing"...), keyPEM)
	f.Fuzz(func(t *testing.T, c, k []byte) {
		kp, err := ParseKeyPair("fuzz", c, k)
		if err != nil {
			return
		}
		c2, k2, err := kp.Encode()
		if err != nil {
			t.Fatalf("accepted pair does not encode: %v", err)
		}
		back, err := ParseKeyPair("fuzz", c2, k2)
		if err != nil || !back.Cert.Equal(kp.Cert) || !back.Key.Equal(kp.Key) {
			t.Fatalf("round trip changed the pair: %v", err)
		}
	})
}
