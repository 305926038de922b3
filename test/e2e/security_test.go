package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMetricsAuth scrapes the running webhook's /metrics (HTTPS, the default): without
// a token the API server cannot authenticate the scraper (401; a bad token 500), a ServiceAccount without
// the metrics-reader grant is not authorized (403), the granted one reads the series.
func TestMetricsAuth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v := variants[0]
	stranger, err := v.c.ServiceAccountToken(ctx, "default", "metrics-stranger")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		// controller-runtime's filter answers a token the TokenReview rejects with 500
		// "Authentication failed" (the authenticator's error), not 401: still no metrics.
		{"not a token", "not-a-token", http.StatusInternalServerError},
		{"ServiceAccount without the grant", stranger, http.StatusForbidden},
		{"metrics reader", v.c.MetricsToken(), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, err := v.c.Scrape(ctx, tc.token)
			if err != nil {
				t.Fatalf("scrape %s: %v", v.c.MetricsURL, err)
			}
			if code != tc.want {
				t.Errorf("scrape %s: HTTP %d, want %d; body %.200q", v.c.MetricsURL, code, tc.want, body)
			}
			if has := strings.Contains(body, "snaprestore_webhook_reviews_total"); has != (tc.want == http.StatusOK) {
				t.Errorf("scrape %s: HTTP %d shows the series: %v", v.c.MetricsURL, code, has)
			}
		})
	}
	// Plain HTTP to the HTTPS port gets no metrics either.
	code, body := httpGet(t, strings.Replace(v.c.MetricsURL, "https://", "http://", 1))
	if code == http.StatusOK || strings.Contains(body, "snaprestore_") {
		t.Errorf("plain HTTP scrape: HTTP %d with metrics; want a refusal", code)
	}
}

// TestTLSProtocols pins the TLS settings of both HTTPS servers of the running process:
// ALPN negotiates http/1.1 even when the client offers h2 first (HTTP/2 is off, see
// webhook/serving.go), and TLS 1.0 and 1.1 handshakes fail.
func TestTLSProtocols(t *testing.T) {
	t.Parallel()
	v := variants[0]
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(v.c.CABundle) {
		t.Fatal("CA bundle holds no certificate")
	}
	for _, server := range []struct{ name, url string }{{"webhook", v.c.WebhookURL}, {"metrics", v.c.MetricsURL}} {
		u, err := url.Parse(server.url)
		if err != nil {
			t.Fatal(err)
		}
		dial := func(cfg *tls.Config) (*tls.Conn, error) {
			cfg.RootCAs, cfg.ServerName = pool, u.Hostname()
			return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", u.Host, cfg)
		}
		t.Run(server.name+"/ALPN", func(t *testing.T) {
			conn, err := dial(&tls.Config{NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12})
			if err != nil {
				t.Fatalf("TLS handshake with %s: %v", u.Host, err)
			}
			defer conn.Close()
			if got := conn.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
				t.Errorf("%s negotiated ALPN %q, want http/1.1 (HTTP/2 off)", server.name, got)
			}
		})
		for _, old := range []struct {
			name    string
			version uint16
		}{{"TLS 1.0", tls.VersionTLS10}, {"TLS 1.1", tls.VersionTLS11}} {
			t.Run(server.name+"/"+old.name, func(t *testing.T) {
				conn, err := dial(&tls.Config{MinVersion: old.version, MaxVersion: old.version})
				if err == nil {
					conn.Close()
					t.Fatalf("%s accepted a %s handshake; want it refused", server.name, old.name)
				}
				if !strings.Contains(err.Error(), "protocol version") {
					t.Errorf("%s handshake error %q, want a protocol version alert", old.name, err)
				}
			})
		}
	}
}

// TestScopeStartupLine reads what each cluster's webhook said at start about its
// snapshot CRDs: the cel cluster's carry CEL rules, the nocel cluster's do not (and its
// configuration sends every snapshot, as webhook.matchAllSnapshots=true does).
func TestScopeStartupLine(t *testing.T) {
	t.Parallel()
	for _, v := range variants {
		want := map[bool]string{false: `celRules=true`, true: `celRules=false`}[v.stripCEL]
		var log string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			b, err := os.ReadFile(v.c.WebhookLog)
			if err != nil {
				t.Fatal(err)
			}
			if log = string(b); strings.Contains(log, "The VolumeSnapshot CRD") {
				break
			}
		}
		var line string
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "The VolumeSnapshot CRD") {
				line = l
			}
		}
		if !strings.Contains(line, want) {
			t.Errorf("%s cluster: start-up scope line %q, want one with %s; log %s", v.name, line, want, v.c.WebhookLog)
		}
	}
}
