package webhook

import (
	"crypto/tls"
	"testing"
)

func TestServingOptions(t *testing.T) {
	t.Parallel()
	o := Options{Port: 9443, CertDir: "/certs", MetricsBindAddress: ":8080"}
	certSource := func(c *tls.Config) { c.ServerName = "from certs" }
	apply := func(opts []func(*tls.Config)) *tls.Config {
		c := &tls.Config{NextProtos: []string{"h2"}} // what controller-runtime starts from
		for _, f := range opts {
			f(c)
		}
		return c
	}
	for name, opts := range map[string][]func(*tls.Config){
		"webhook": o.ServerOptions([]func(*tls.Config){certSource}).TLSOpts,
		"metrics": o.MetricsOptions([]func(*tls.Config){certSource}).TLSOpts,
	} {
		c := apply(opts)
		if len(c.NextProtos) != 1 || c.NextProtos[0] != "http/1.1" || c.MinVersion != tls.VersionTLS12 || c.ServerName != "from certs" {
			t.Errorf("%s TLS config: NextProtos %v, MinVersion %#x, certificate source applied %v; want [http/1.1], TLS 1.2, true",
				name, c.NextProtos, c.MinVersion, c.ServerName == "from certs")
		}
	}
	m := o.MetricsOptions(nil)
	if !m.SecureServing || m.FilterProvider == nil || m.CertDir != "/certs" || m.BindAddress != ":8080" {
		t.Errorf("default metrics: secure %v, filter %v, cert dir %q, address %q; want HTTPS with authn/authz from /certs on :8080",
			m.SecureServing, m.FilterProvider != nil, m.CertDir, m.BindAddress)
	}
	o.MetricsInsecure = true
	m = o.MetricsOptions(nil)
	if m.SecureServing || m.FilterProvider != nil || len(m.TLSOpts) != 0 {
		t.Errorf("--metrics-insecure: secure %v, filter %v; want plain HTTP without a filter", m.SecureServing, m.FilterProvider != nil)
	}
}
