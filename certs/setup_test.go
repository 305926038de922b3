package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/snaprestore/snaprestore/certs/authority"
	"github.com/snaprestore/snaprestore/certs/pki"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// TestSetupBuiltin wires Setup into a real manager the way the webhook command does and
// checks that the webhook server presents a certificate for the Service's DNS names that
// verifies against the bundle in the CA Secret, and that readyz waits for it.
func TestSetupBuiltin(t *testing.T) {
	cfg := testenv.Start(t, testenv.Options{}).Config
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "snaprestore"}}); err != nil {
		t.Fatal(err)
	}

	tlsOpts, add, addLeader, err := Setup(cfg, Options{Mode: ModeBuiltin, Namespace: "snaprestore", ReloadInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	port, probePort := testenv.FreePort(t), testenv.FreePort(t)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(probePort)),
		WebhookServer:          webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, TLSOpts: tlsOpts}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(add(mgr), addLeader(mgr)); err != nil {
		t.Fatalf("add: %v", err)
	}
	mgr.GetWebhookServer().Register("/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	testenv.RunManager(t, mgr)

	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	testenv.Poll(t, "readyz", func() bool {
		resp, err := http.Get(readyz)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	var ca corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "snaprestore", Name: DefaultCASecret}, &ca); err != nil {
		t.Fatalf("CA secret: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.Data[authority.KeyBundle]) {
		t.Fatalf("CA secret key %s holds no certificate", authority.KeyBundle)
	}
	started := mgr.GetWebhookServer().StartedChecker()
	testenv.Poll(t, "the webhook server", func() bool { return started(nil) == nil })
	for _, name := range DNSNames("snaprestore", "snaprestore") {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{ServerName: name, RootCAs: roots})
		if err != nil {
			t.Errorf("TLS handshake as %s: %v", name, err)
			continue
		}
		_ = conn.Close()
	}
}

// TestFilesModeReloads is cert-manager mode: Setup leaves the webhook server to
// controller-runtime's certwatcher on --cert-dir, which must serve a rewritten
// certificate without a restart, also when the kubelet swaps the ..data link (certwatcher
// notices that by polling, within about 10s).
func TestFilesModeReloads(t *testing.T) {
	t.Parallel()
	tlsOpts, add, addLeader, err := Setup(nil, Options{})
	if err != nil || tlsOpts != nil || add == nil || addLeader == nil {
		t.Fatalf("Setup(files) = %v, add set %v, addLeader set %v, %v; want nil, true, true, nil", tlsOpts, add != nil, addLeader != nil, err)
	}
	if err := errors.Join(add(nil), addLeader(nil)); err != nil {
		t.Fatalf("files-mode add: %v", err)
	}
	dir := t.TempDir()
	gen := 0
	ca, err := pki.NewCA("files-ca", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write := func() *x509.Certificate {
		kp, err := pki.Sign(ca, []string{"snaprestore.snaprestore.svc"}, time.Now(), 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		certPEM, keyPEM, err := kp.Encode()
		if err != nil {
			t.Fatal(err)
		}
		// Like the kubelet's Secret volume: the files are links through ..data, which is
		// switched atomically to a new timestamped directory.
		gen++
		ts := filepath.Join(dir, fmt.Sprintf("..%d", gen))
		if err := os.Mkdir(ts, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"tls.key": keyPEM, "tls.crt": certPEM} {
			if err := os.WriteFile(filepath.Join(ts, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if gen == 1 {
				if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		return kp.Cert
	}
	first := write()
	port := testenv.FreePort(t)
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir, TLSOpts: tlsOpts})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("webhook server: %v", err)
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	servedSerial := func() string {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{ServerName: "snaprestore.snaprestore.svc", RootCAs: roots})
		if err != nil {
			return ""
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	testenv.Poll(t, "the first certificate to be served", func() bool { return servedSerial() == first.SerialNumber.String() })
	second := write()
	testenv.Poll(t, "the rewritten certificate to be served", func() bool { return servedSerial() == second.SerialNumber.String() })
}
