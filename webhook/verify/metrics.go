package verify

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of the background verification (#5).
const (
	resultIntact  = "intact"
	resultDamaged = "damaged"
	resultError   = "error"
)

// Metrics of the background verification (#5); the label is bounded to the results.
var (
	verifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "restore", Name: "verifications_total",
		Help: "Deep verifications of the backups restore PVCs name, by result (intact, damaged, error).",
	}, []string{"result"})
	verifiedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "restore", Name: "verified_bytes_total",
		Help: "Logical bytes of backup blocks fetched, decompressed and checksummed by verifications.",
	})
)

func init() {
	metrics.Registry.MustRegister(verifications, verifiedBytes)
	for _, r := range []string{resultIntact, resultDamaged, resultError} {
		verifications.WithLabelValues(r)
	}
}
