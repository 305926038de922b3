package certs

import (
	"crypto/tls"
	"fmt"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/snaprestore/snaprestore/certs/authority"
)

// Setup prepares serving certificates before the manager is built. In files mode it
// returns (nil, no-op adds, nil): the webhook server then uses --cert-dir. In builtin
// mode it returns TLS options that make the webhook server serve the certificate from
// the Secret (GetCertificate, reloaded on change); add registers on the manager of
// every replica the reloader and a readyz check "serving-certificate", addLeader the
// bootstrap/rotation/caBundle patching, which only the leader runs (on the manager of
// its term, see webhook.Setup).
func Setup(cfg *rest.Config, o Options) (tlsOpts []func(*tls.Config), add, addLeader func(manager.Manager) error, err error) {
	if err := o.Validate(); err != nil {
		return nil, nil, nil, err
	}
	if o.Mode == ModeFiles {
		none := func(manager.Manager) error { return nil }
		return nil, none, none, nil
	}
	// An uncached client: two Secrets and two configurations do not warrant informers,
	// and a Secret informer would need cluster-wide list/watch.
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, admissionregv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, nil, nil, fmt.Errorf("certs scheme: %w", err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("certs client: %w", err)
	}
	auth := authority.New(c, authorityConfig(o))
	src := authority.NewSource(c, o.Namespace, o.ServingSecret, o.ReloadInterval)
	tlsOpts = []func(*tls.Config){func(t *tls.Config) { t.GetCertificate = src.GetCertificate }}
	addLeader = func(mgr manager.Manager) error {
		if err := mgr.Add(auth); err != nil {
			return fmt.Errorf("add certificate authority: %w", err)
		}
		return nil
	}
	add = func(mgr manager.Manager) error {
		if err := mgr.Add(src); err != nil {
			return fmt.Errorf("add serving certificate source: %w", err)
		}
		if err := mgr.AddReadyzCheck("serving-certificate", src.Ready); err != nil {
			return fmt.Errorf("add serving certificate readyz check: %w", err)
		}
		return nil
	}
	return tlsOpts, add, addLeader, nil
}

// DNSNames are the names the builtin serving certificate is valid for: the Service's
// in-cluster names, which the webhook configurations' service references resolve to.
func DNSNames(service, namespace string) []string {
	return []string{
		fmt.Sprintf("%s.%s.svc", service, namespace),
		fmt.Sprintf("%s.%s.svc.cluster.local", service, namespace),
	}
}

func authorityConfig(o Options) authority.Config {
	return authority.Config{
		Namespace: o.Namespace, CASecret: o.CASecret, ServingSecret: o.ServingSecret,
		DNSNames:         DNSNames(o.ServiceName, o.Namespace),
		ValidatingConfig: o.ValidatingConfig, MutatingConfig: o.MutatingConfig,
		CAValidity: o.CAValidity, ServingValidity: o.ServingValidity,
		CAPropagation: o.CAPropagation, ResyncInterval: o.ResyncInterval,
	}
}
