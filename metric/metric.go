package metric

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Namespace is the first part of every snaprestore metric name.
const Namespace = "snaprestore"

// Counter registers the counter snaprestore_<subsystem>_<name>.
func Counter(subsystem, name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help})
	metrics.Registry.MustRegister(c)
	return c
}

// CounterVec registers the counter snaprestore_<subsystem>_<name> with one label, and
// creates the series of each of values.
func CounterVec(subsystem, name, help, label string, values ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, []string{label})
	metrics.Registry.MustRegister(c)
	for _, v := range values {
		c.WithLabelValues(v)
	}
	return c
}

// Gauge registers the gauge snaprestore_<subsystem>_<name>.
func Gauge(subsystem, name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help})
	metrics.Registry.MustRegister(g)
	return g
}
