package populator

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of a population (label values of populationsTotal).
const (
	resultSucceeded = "succeeded"
	resultFailed    = "failed"
	resultRetried   = "retried"
	resultAborted   = "aborted"
)

var (
	populationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "populator", Name: "populations_total",
		Help: "Populations by result: succeeded (bound), failed (given up), retried (a failed pod), aborted (PVC or BackupSource deleted).",
	}, []string{"result"})
	restoredBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "populator", Name: "restored_bytes_total",
		Help: "Logical bytes of the blocks restored by succeeded populations.",
	})
	populationSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "snaprestore", Subsystem: "populator", Name: "population_duration_seconds",
		Help:    "Time from the prime PVC's creation to the verified image, for succeeded populations.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14),
	})
)

func init() {
	metrics.Registry.MustRegister(populationsTotal, restoredBytes, populationSeconds)
	for _, r := range []string{resultSucceeded, resultFailed, resultRetried, resultAborted} {
		populationsTotal.WithLabelValues(r)
	}
}
