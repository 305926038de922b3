package webhook

import "github.com/snaprestore/snaprestore/metric"

// Sources of a created object: the kind whose admission created it.
const (
	sourceSnapshot = "volumesnapshot"
	sourcePVC      = "persistentvolumeclaim"
)

// Metrics of the mutating webhook's side effect and of the orphan GC (#4). Labels are
// bounded: source is sourceSnapshot or sourcePVC, kind is VolumeSnapshotContent or
// VolumeSnapshot.
var (
	contentsCreated = metric.CounterVec("mutate", "contents_created_total",
		"VolumeSnapshotContents created for bare backup references, by the kind whose admission created them.", "source", sourceSnapshot, sourcePVC)
	contentsReused = metric.CounterVec("mutate", "contents_reused_total",
		"Admissions that found the wanted VolumeSnapshotContent already there (retries, reinvocation, re-apply).", "source", sourceSnapshot, sourcePVC)
	snapshotsCreated = metric.Counter("mutate", "snapshots_created_total",
		"VolumeSnapshots created for PVCs annotated with a bare backup reference.")
	conflicts = metric.CounterVec("mutate", "conflicts_total",
		"Admissions denied because an object with the wanted name exists and differs.", "kind", "VolumeSnapshotContent", "VolumeSnapshot")
	gcContentsDeleted = metric.Counter("gc", "contents_deleted_total",
		"Created VolumeSnapshotContents deleted because no VolumeSnapshot claimed them after the grace period.")
	gcErrors = metric.Counter("gc", "errors_total", "Orphan GC reconciliations that failed and were retried.")
)

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
