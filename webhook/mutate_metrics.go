package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Sources of a created object: the kind whose admission created it.
const (
	sourceSnapshot = "volumesnapshot"
	sourcePVC      = "persistentvolumeclaim"
)

// Metrics of the mutating webhook's side effect and of the orphan GC (#4). Labels are
// bounded: source is sourceSnapshot or sourcePVC, kind is VolumeSnapshotContent or
// VolumeSnapshot.
var (
	contentsCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "mutate", Name: "contents_created_total",
		Help: "VolumeSnapshotContents created for bare backup references, by the kind whose admission created them.",
	}, []string{"source"})
	contentsReused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "mutate", Name: "contents_reused_total",
		Help: "Admissions that found the wanted VolumeSnapshotContent already there (retries, reinvocation, re-apply).",
	}, []string{"source"})
	snapshotsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "mutate", Name: "snapshots_created_total",
		Help: "VolumeSnapshots created for PVCs annotated with a bare backup reference.",
	})
	conflicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "mutate", Name: "conflicts_total",
		Help: "Admissions denied because an object with the wanted name exists and differs.",
	}, []string{"kind"})
	gcContentsDeleted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "gc", Name: "contents_deleted_total",
		Help: "Created VolumeSnapshotContents deleted because no VolumeSnapshot claimed them after the grace period.",
	})
	gcErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "gc", Name: "errors_total",
		Help: "Orphan GC reconciliations that failed and were retried.",
	})
)

func init() {
	metrics.Registry.MustRegister(contentsCreated, contentsReused, snapshotsCreated, conflicts, gcContentsDeleted, gcErrors)
	for _, s := range []string{sourceSnapshot, sourcePVC} {
		contentsCreated.WithLabelValues(s)
		contentsReused.WithLabelValues(s)
	}
	for _, k := range []string{"VolumeSnapshotContent", "VolumeSnapshot"} {
		conflicts.WithLabelValues(k)
	}
}

// recordEnsure counts the outcome of one ensure call.
func recordEnsure(kind, source string, outcome ensureOutcome) {
	switch {
	case outcome == outcomeConflict:
		conflicts.WithLabelValues(kind).Inc()
	case kind == "VolumeSnapshot" && outcome == outcomeCreated:
		snapshotsCreated.Inc()
	case kind == "VolumeSnapshotContent" && outcome == outcomeCreated:
		contentsCreated.WithLabelValues(source).Inc()
	case kind == "VolumeSnapshotContent" && outcome == outcomeReused:
		contentsReused.WithLabelValues(source).Inc()
	}
}
