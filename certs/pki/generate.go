package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// MinValidity is the shortest lifetime NewCA and Sign accept; anything shorter cannot be
// rotated before it expires.
const MinValidity = time.Second

// KeyPair is a certificate with its private key. Raw PEM forms come from Encode.
type KeyPair struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// ErrCANotValid means the CA passed to Sign has expired or is not yet valid at the
// requested time.
var ErrCANotValid = errors.New("CA is not valid at the signing time")

// NewCA generates a self-signed P-256 CA named commonName, valid from notBefore for
// validity.
func NewCA(commonName string, notBefore time.Time, validity time.Duration) (*KeyPair, error) {
	if commonName == "" {
		return nil, errors.New("CA common name is empty: expected a name")
	}
	if validity < MinValidity {
		return nil, fmt.Errorf("CA validity %s is below the minimum %s", validity, MinValidity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return create(tmpl, tmpl, key, key)
}

// Sign issues a P-256 serving certificate for dnsNames, signed by ca, valid from
// notBefore for validity but never past the CA's NotAfter: a leaf does not outlive its CA.
func Sign(ca *KeyPair, dnsNames []string, notBefore time.Time, validity time.Duration) (*KeyPair, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("sign: CA key pair is incomplete: expected a certificate and a key")
	}
	if !ca.Cert.IsCA {
		return nil, fmt.Errorf("sign: certificate %q is not a CA", ca.Cert.Subject.CommonName)
	}
	if len(dnsNames) == 0 {
		return nil, errors.New("sign: no DNS names: expected at least one")
	}
	if validity < MinValidity {
		return nil, fmt.Errorf("sign: validity %s is below the minimum %s", validity, MinValidity)
	}
	if notBefore.Before(ca.Cert.NotBefore) || !notBefore.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("sign with CA %q valid %s to %s at %s: %w", ca.Cert.Subject.CommonName,
			ca.Cert.NotBefore.UTC().Format(time.RFC3339), ca.Cert.NotAfter.UTC().Format(time.RFC3339),
			notBefore.UTC().Format(time.RFC3339), ErrCANotValid)
	}
	notAfter := notBefore.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate serving key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: dnsNames[0]},
		DNSNames:              append([]string(nil), dnsNames...),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	return create(tmpl, ca.Cert, key, ca.Key)
}

// RenewalTime is when a certificate should be replaced: at 2/3 of its lifetime, which
// leaves a third of it for retries and for every replica to reload.
func RenewalTime(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotBefore.Add(life / 3 * 2)
}

func create(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer *ecdsa.PrivateKey) (*KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse created certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n, nil
}
