package authority

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Values of the kind label.
const (
	kindCA      = "ca"
	kindServing = "serving"
)

// Certificate metrics of builtin mode (#6). Alert on the expiry gauge: it is what every
// replica actually serves.
var (
	issued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "certs", Name: "issued_total",
		Help: "Certificates the builtin authority issued, by kind (ca, serving).",
	}, []string{"kind"})
	reconcileErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "certs", Name: "reconcile_errors_total",
		Help: "Failed reconciles of the builtin CA, serving certificate and caBundle.",
	})
	servingNotAfter = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "snaprestore", Subsystem: "certs", Name: "serving_not_after_timestamp_seconds",
		Help: "Expiry (Unix time) of the serving certificate this replica serves in builtin mode.",
	})
)

func init() {
	metrics.Registry.MustRegister(issued, reconcileErrors, servingNotAfter)
	issued.WithLabelValues(kindCA)
	issued.WithLabelValues(kindServing)
}
