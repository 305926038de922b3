package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
)

// TestCertDirReload starts `snaprestore webhook` in files mode, replaces tls.crt
// and tls.key in --cert-dir with a certificate of another CA, and expects the
// running process to serve the new one (controller-runtime's certwatcher), as
// when cert-manager renews a mounted certificate.
func TestCertDirReload(t *testing.T) {
	t.Parallel()
	v := variants[0]
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	oldCA, err := cluster.ServingCert(certDir)
	if err != nil {
		t.Fatal(err)
	}
	w := startWebhook(t, v, "--cert-dir", certDir)
	// handshake reports whether the server's certificate verifies against caPEM.
	handshake := func(caPEM []byte) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		conn, err := tls.Dial("tcp", w.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err == nil {
			conn.Close()
		}
		return err
	}
	w.waitFor("readyz", w.ready)
	if err := handshake(oldCA); err != nil {
		t.Fatalf("handshake with the first certificate: %v", err)
	}
	// Write the new pair next to the old one and rename it into place, as a
	// Secret volume update does (atomic per file).
	staging := filepath.Join(dir, "new")
	newCA, err := cluster.ServingCert(staging)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.key", "tls.crt"} {
		if err := os.Rename(filepath.Join(staging, f), filepath.Join(certDir, f)); err != nil {
			t.Fatal(err)
		}
	}
	w.waitFor("serve the new certificate", func() bool { return handshake(newCA) == nil })
	if err := handshake(oldCA); err == nil {
		t.Errorf("the old CA still verifies the served certificate after the reload")
	}
}
