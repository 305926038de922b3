package webhook

import (
	"crypto/tls"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// The TLS settings of both servers (issue #13, "Security defaults").
//
// HTTP/2 is off: controller-runtime and kubebuilder turn it off by default since the
// HTTP/2 rapid-reset and stream-cancellation CVEs (CVE-2023-44487, CVE-2023-39325),
// and nothing here gains from it: kube-apiserver's admission client sends one review
// per request and keeps HTTP/1.1 connections alive, and Prometheus scrapes over
// HTTP/1.1. TLS 1.2 is the floor, stated here rather than left to Go's default.
func hardenTLS(c *tls.Config) {
	c.NextProtos = []string{"http/1.1"}
	c.MinVersion = tls.VersionTLS12
}

// ServerOptions are the webhook server's options: --bind-address, --port and
// --cert-dir, tlsOpts (the certificate source of package certs) and hardenTLS after
// them.
func (o Options) ServerOptions(tlsOpts []func(*tls.Config)) webhook.Options {
	return webhook.Options{
		Host: o.BindAddress, Port: o.Port, CertDir: o.CertDir,
		TLSOpts: append(append([]func(*tls.Config){}, tlsOpts...), hardenTLS),
	}
}

// MetricsOptions are the metrics server's options. With MetricsSecure (the default)
// /metrics is HTTPS with the webhook's serving certificate (tlsOpts, or the files of
// --cert-dir; controller-runtime falls back to a self-signed one) and every scrape
// must bring a bearer token the API server authenticates (TokenReview) and
// authorizes for GET on the non-resource URL /metrics (SubjectAccessReview), as
// kubebuilder scaffolds. Without it, plain HTTP to anyone who reaches the port.
func (o Options) MetricsOptions(tlsOpts []func(*tls.Config)) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsBindAddress}
	if !o.MetricsInsecure {
		m.SecureServing = true
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
		m.CertDir = o.CertDir
		m.TLSOpts = append(append([]func(*tls.Config){}, tlsOpts...), hardenTLS)
	}
	return m
}
