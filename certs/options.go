package certs

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Certificate modes.
const (
	// ModeFiles serves tls.crt/tls.key from the webhook server's --cert-dir (mounted by
	// cert-manager or the user); controller-runtime's certwatcher reloads them.
	ModeFiles = "files"
	// ModeBuiltin keeps a CA and a serving certificate in Secrets (see Options).
	ModeBuiltin = "builtin"
)

// Defaults of Options; the flags show them too.
const (
	DefaultCASecret        = "snaprestore-ca"
	DefaultServingSecret   = "snaprestore-serving"
	DefaultServiceName     = "snaprestore"
	DefaultWebhookConfig   = "snaprestore"
	DefaultCAValidity      = 365 * 24 * time.Hour
	DefaultServingValidity = 7 * 24 * time.Hour
	DefaultCAPropagation   = 2 * time.Minute
	DefaultResyncInterval  = time.Minute
	DefaultReloadInterval  = 10 * time.Second
)

// Options selects and configures the certificate mode. Zero values mean the documented
// default; AddFlags binds them and Validate checks them.
type Options struct {
	// Mode is ModeFiles (default) or ModeBuiltin.
	Mode string
	// Namespace holds the Secrets in builtin mode. Default: $POD_NAMESPACE.
	Namespace string
	// CASecret names the Secret with the CA (tls.crt, tls.key) and the CA bundle (ca.crt).
	// Default snaprestore-ca.
	CASecret string
	// ServingSecret names the kubernetes.io/tls Secret every replica serves from.
	// Default snaprestore-serving.
	ServingSecret string
	// ServiceName is the webhook Service; the serving certificate is valid for
	// <svc>.<ns>.svc and <svc>.<ns>.svc.cluster.local. Default snaprestore.
	ServiceName string
	// ValidatingConfig and MutatingConfig name the webhook configurations whose every
	// webhook entry gets the CA bundle. Default snaprestore each; "" in a struct built
	// without AddFlags means the default too.
	ValidatingConfig, MutatingConfig string
	// CAValidity is the CA's lifetime (default 8760h). The CA is renewed at 2/3 of it
	// and the old CA stays in the bundle until it expires.
	CAValidity time.Duration
	// ServingValidity is the serving certificate's lifetime (default 168h), renewed at
	// 2/3 of it and never longer than the signing CA's.
	ServingValidity time.Duration
	// CAPropagation is how long a new CA sits in the published bundle before it signs
	// serving certificates, so API servers trust it before it is used (default 2m).
	CAPropagation time.Duration
	// ResyncInterval bounds how long the leader waits between checks of the Secrets and
	// the webhook configurations (default 1m); it also wakes at every rotation time.
	ResyncInterval time.Duration
	// ReloadInterval is how often every replica re-reads the serving Secret (default 10s).
	ReloadInterval time.Duration
	// Getenv reads $POD_NAMESPACE, the default of Namespace. Default os.Getenv; tests
	// inject one, as webhook.Options.Getenv.
	Getenv func(string) string
}

// AddFlags binds the options to kebab-case flags with their defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Mode, "cert-mode", ModeFiles, `Where the serving certificate comes from: "files" (tls.crt/tls.key in --cert-dir, e.g. from cert-manager) or "builtin" (a CA and serving certificate kept in Secrets by the leader).`)
	fs.StringVar(&o.Namespace, "cert-namespace", "", "Namespace of the builtin-mode Secrets (default $POD_NAMESPACE).")
	fs.StringVar(&o.CASecret, "ca-secret", DefaultCASecret, "Secret holding the builtin CA and the CA bundle.")
	fs.StringVar(&o.ServingSecret, "serving-secret", DefaultServingSecret, "Secret holding the builtin serving certificate.")
	fs.StringVar(&o.ServiceName, "service-name", DefaultServiceName, "Service of the webhook; the certificate is valid for <svc>.<ns>.svc and <svc>.<ns>.svc.cluster.local.")
	fs.StringVar(&o.ValidatingConfig, "validating-webhook-configuration", DefaultWebhookConfig, "ValidatingWebhookConfiguration whose caBundle builtin mode keeps current.")
	fs.StringVar(&o.MutatingConfig, "mutating-webhook-configuration", DefaultWebhookConfig, "MutatingWebhookConfiguration whose caBundle builtin mode keeps current.")
	fs.DurationVar(&o.CAValidity, "ca-validity", DefaultCAValidity, "Lifetime of a builtin CA; renewed at 2/3 of it.")
	fs.DurationVar(&o.ServingValidity, "serving-cert-validity", DefaultServingValidity, "Lifetime of a builtin serving certificate; renewed at 2/3 of it.")
	fs.DurationVar(&o.CAPropagation, "ca-propagation", DefaultCAPropagation, "How long a new CA is published in the caBundle before it signs serving certificates.")
	fs.DurationVar(&o.ResyncInterval, "cert-resync-interval", DefaultResyncInterval, "Longest wait of the builtin leader between checks of the Secrets and webhook configurations.")
	fs.DurationVar(&o.ReloadInterval, "cert-reload-interval", DefaultReloadInterval, "How often every replica re-reads the builtin serving Secret.")
}

// setDefaults fills zero values; it is the one place defaults are applied.
func (o *Options) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	def(&o.Mode, ModeFiles)
	def(&o.Namespace, o.Getenv("POD_NAMESPACE"))
	def(&o.CASecret, DefaultCASecret)
	def(&o.ServingSecret, DefaultServingSecret)
	def(&o.ServiceName, DefaultServiceName)
	def(&o.ValidatingConfig, DefaultWebhookConfig)
	def(&o.MutatingConfig, DefaultWebhookConfig)
	defDur(&o.CAValidity, DefaultCAValidity)
	defDur(&o.ServingValidity, DefaultServingValidity)
	defDur(&o.CAPropagation, DefaultCAPropagation)
	defDur(&o.ResyncInterval, DefaultResyncInterval)
	defDur(&o.ReloadInterval, DefaultReloadInterval)
}

// Validate applies the defaults and reports every invalid option by its flag name.
func (o *Options) Validate() error {
	o.setDefaults()
	var errs []error
	switch o.Mode {
	case ModeFiles:
		return nil
	case ModeBuiltin:
	default:
		return fmt.Errorf("--cert-mode: %q is not supported: expected %q or %q", o.Mode, ModeFiles, ModeBuiltin)
	}
	if o.Namespace == "" {
		errs = append(errs, errors.New("--cert-namespace: required in builtin mode: set it or $POD_NAMESPACE"))
	}
	for _, n := range []struct{ flag, value string }{
		{"--cert-namespace", o.Namespace}, {"--service-name", o.ServiceName},
	} {
		if n.value == "" {
			continue
		}
		for _, msg := range validation.IsDNS1123Label(n.value) {
			errs = append(errs, fmt.Errorf("%s: %q is not a DNS label: %s", n.flag, n.value, msg))
		}
	}
	for _, n := range []struct{ flag, value string }{
		{"--ca-secret", o.CASecret}, {"--serving-secret", o.ServingSecret},
		{"--validating-webhook-configuration", o.ValidatingConfig}, {"--mutating-webhook-configuration", o.MutatingConfig},
	} {
		for _, msg := range validation.IsDNS1123Subdomain(n.value) {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid object name: %s", n.flag, n.value, msg))
		}
	}
	if o.CASecret == o.ServingSecret {
		errs = append(errs, fmt.Errorf("--serving-secret: %q is also --ca-secret: expected two different Secrets", o.ServingSecret))
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"--ca-validity", o.CAValidity}, {"--serving-cert-validity", o.ServingValidity}, {"--ca-propagation", o.CAPropagation},
		{"--cert-resync-interval", o.ResyncInterval}, {"--cert-reload-interval", o.ReloadInterval},
	} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("%s: %s is negative: expected a positive duration", d.flag, d.value))
		}
	}
	if o.ServingValidity >= o.CAValidity {
		errs = append(errs, fmt.Errorf("--serving-cert-validity: %s is not shorter than --ca-validity %s: expected a shorter serving certificate", o.ServingValidity, o.CAValidity))
	}
	// A routine serving renewal waits up to CAPropagation for a new CA to be trusted;
	// the certificate it replaces has a third of its life left at that point.
	if 3*o.CAPropagation >= o.ServingValidity {
		errs = append(errs, fmt.Errorf("--ca-propagation: %s is not below a third of --serving-cert-validity %s: expected a shorter propagation delay", o.CAPropagation, o.ServingValidity))
	}
	return errors.Join(errs...)
}
