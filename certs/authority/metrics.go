package authority

import "github.com/snaprestore/snaprestore/metric"

// Values of the kind label.
const (
	kindCA      = "ca"
	kindServing = "serving"
)

// Certificate metrics of builtin mode (#6). Alert on the expiry gauge: it is what every
// replica actually serves.
var (
	issued          = metric.CounterVec("certs", "issued_total", "Certificates the builtin authority issued, by kind (ca, serving).", "kind", kindCA, kindServing)
	reconcileErrors = metric.Counter("certs", "reconcile_errors_total", "Failed reconciles of the builtin CA, serving certificate and caBundle.")
	servingNotAfter = metric.Gauge("certs", "serving_not_after_timestamp_seconds",
		"Expiry (Unix time) of the serving certificate this replica serves in builtin mode.")
)
