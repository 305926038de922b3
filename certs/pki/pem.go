package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types.
const (
	blockCertificate = "CERTIFICATE"
	blockECKey       = "EC PRIVATE KEY"
)

// EncodeCerts returns the certificates as concatenated PEM blocks, in order.
func EncodeCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: blockCertificate, Bytes: c.Raw})
	}
	return b.Bytes()
}

// EncodeKey returns the key as an "EC PRIVATE KEY" PEM block.
func EncodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal EC private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockECKey, Bytes: der}), nil
}

// Encode returns the certificate and key PEM of kp.
func (kp *KeyPair) Encode() (certPEM, keyPEM []byte, err error) {
	keyPEM, err = EncodeKey(kp.Key)
	if err != nil {
		return nil, nil, err
	}
	return EncodeCerts(kp.Cert), keyPEM, nil
}

// DecodeCerts parses every CERTIFICATE block of data. what names the data in errors
// (e.g. "secret ns/name key ca.crt").
func DecodeCerts(what string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for i := 0; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != blockCertificate {
			return nil, fmt.Errorf("%s: PEM block %d has type %q: expected %q", what, i, b.Type, blockCertificate)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: PEM block %d: %w", what, i, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM %q block in %d bytes", what, blockCertificate, len(data))
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%s: %d bytes after the last PEM block: expected only PEM", what, len(bytes.TrimSpace(rest)))
	}
	return certs, nil
}

// DecodeKey parses an EC private key from "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY" PEM.
func DecodeKey(what string, data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM block in %d bytes: expected an EC private key", what, len(data))
	}
	switch b.Type {
	case blockECKey:
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: private key is %T: expected an ECDSA key", what, k)
		}
		return ec, nil
	default:
		return nil, fmt.Errorf("%s: PEM block type %q: expected %q or %q", what, b.Type, blockECKey, "PRIVATE KEY")
	}
}

// ParseKeyPair decodes a certificate (the first block of certPEM) and its key, and checks
// that they belong together. what names the source in errors.
func ParseKeyPair(what string, certPEM, keyPEM []byte) (*KeyPair, error) {
	certs, err := DecodeCerts(what+" certificate", certPEM)
	if err != nil {
		return nil, err
	}
	key, err := DecodeKey(what+" key", keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := certs[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("%s: %w", what, ErrKeyMismatch)
	}
	return &KeyPair{Cert: certs[0], Key: key}, nil
}

// ErrKeyMismatch means a private key does not belong to the certificate it came with.
var ErrKeyMismatch = errors.New("private key does not match the certificate's public key")
