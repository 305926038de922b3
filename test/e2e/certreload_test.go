package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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
	ports := make([]int, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	log, err := os.Create(filepath.Join(dir, "webhook.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(binary, "webhook", "--kubeconfig", v.c.Kubeconfig, "--cert-dir", certDir,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(ports[1]))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := <-done; err != nil {
			t.Errorf("webhook exited with %v after SIGINT, want status 0", err)
		}
	}()
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	// handshake reports whether the server's certificate verifies against caPEM.
	handshake := func(caPEM []byte) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err == nil {
			conn.Close()
		}
		return err
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			select {
			case err := <-done:
				done <- err
				b, _ := os.ReadFile(log.Name())
				t.Fatalf("%s: the webhook exited: %v\n%s", what, err, b)
			default:
			}
			if cond() {
				return
			}
		}
		b, _ := os.ReadFile(log.Name())
		t.Fatalf("%s: not within 2 minutes; webhook log:\n%s", what, b)
	}
	waitFor("readyz", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
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
	waitFor("serve the new certificate", func() bool { return handshake(newCA) == nil })
	if err := handshake(oldCA); err == nil {
		t.Errorf("the old CA still verifies the served certificate after the reload")
	}
}
