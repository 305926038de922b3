package certs

import (
	"crypto/tls"
	"errors"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Setup prepares serving certificates before the manager is built. In files mode it
// returns (nil, no-op add, nil): the webhook server then uses --cert-dir. In builtin mode
// it returns TLS options that make the webhook server serve the certificate from the
// Secret (GetCertificate, reloaded on change) and add registers the runnables
// (leader-elected bootstrap/rotation/caBundle patching; a reloader on every replica) on
// the manager.
func Setup(cfg *rest.Config, o Options) (tlsOpts []func(*tls.Config), add func(manager.Manager) error, err error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	if o.Mode == ModeFiles {
		return nil, func(manager.Manager) error { return nil }, nil
	}
	return nil, nil, errors.New("--cert-mode builtin: not implemented yet")
}
