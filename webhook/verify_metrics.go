package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of the background work on restore PVCs (#5).
const (
	verifyIntact  = "intact"
	verifyDamaged = "damaged"
	verifyError   = "error"

	materializeCompleted = "completed"
	materializeFailed    = "failed"
)

// Metrics of the background verification and materialization (#5). Labels are
// bounded to the result constants above.
var (
	verifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "restore", Name: "verifications_total",
		Help: "Deep verifications of the backups restore PVCs name, by result (intact, damaged, error).",
	}, []string{"result"})
	verifiedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "restore", Name: "verified_bytes_total",
		Help: "Logical bytes of backup blocks fetched, decompressed and checksummed by verifications.",
	})
	materializations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "restore", Name: "materializations_total",
		Help: "Restores of restore PVCs' backups into --restore-dir, by result (completed, failed).",
	}, []string{"result"})
	writtenBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "restore", Name: "written_bytes_total",
		Help: "Bytes written to images in --restore-dir.",
	})
)

func init() {
	metrics.Registry.MustRegister(verifications, verifiedBytes, materializations, writtenBytes)
	for _, r := range []string{verifyIntact, verifyDamaged, verifyError} {
		verifications.WithLabelValues(r)
	}
	for _, r := range []string{materializeCompleted, materializeFailed} {
		materializations.WithLabelValues(r)
	}
}
