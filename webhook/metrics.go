package webhook

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Values of the kind label of the admission metrics: the kind a handler
// reviews (mutating and validating reviews of a kind share it).
const (
	reviewKindSnapshot = "VolumeSnapshot"
	reviewKindContent  = "VolumeSnapshotContent"
	reviewKindClass    = "VolumeSnapshotClass"
	reviewKindPVC      = "PersistentVolumeClaim"
)

// Values of the verdict label.
const (
	verdictAllowed = "allowed"
	verdictDenied  = "denied"
	verdictError   = "error" // the request could not be judged: bad input or a server-side failure
)

// operationOther stands for any operation outside admissionv1's four, so the
// operation label stays bounded whatever a client sends.
const operationOther = "OTHER"

// Admission metrics (#2: reviews by kind and verdict, latency histogram).
var (
	reviews = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "snaprestore", Subsystem: "webhook", Name: "reviews_total",
		Help: "Admission reviews answered, by reviewed kind, operation and verdict (allowed, denied, error).",
	}, []string{"kind", "operation", "verdict"})
	reviewDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "snaprestore", Subsystem: "webhook", Name: "review_duration_seconds",
		Help: "Time to judge one admission review, decoded request to response, by reviewed kind.",
		// From 100µs (a cache hit) to 5 s (the API server's timeout for the webhook).
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
	}, []string{"kind"})
)

func init() {
	metrics.Registry.MustRegister(reviews, reviewDuration)
	for _, k := range []string{reviewKindSnapshot, reviewKindContent, reviewKindClass, reviewKindPVC} {
		reviewDuration.WithLabelValues(k)
		for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
			for _, v := range []string{verdictAllowed, verdictDenied, verdictError} {
				reviews.WithLabelValues(k, string(op), v)
			}
		}
	}
}

// instrumented counts and times the reviews of one handler.
type instrumented struct {
	kind string
	next admission.Handler
}

// instrument wraps h so its reviews show up in the admission metrics under kind.
func instrument(kind string, h admission.Handler) admission.Handler {
	return instrumented{kind: kind, next: h}
}

func (h instrumented) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	answered := false
	defer func() {
		// A panic passes through here to controller-runtime, which answers 500.
		if !answered {
			h.record(req, verdictError, start)
		}
	}()
	resp := h.next.Handle(ctx, req)
	answered = true
	h.record(req, verdict(resp), start)
	return resp
}

func (h instrumented) record(req admission.Request, verdict string, start time.Time) {
	reviewDuration.WithLabelValues(h.kind).Observe(time.Since(start).Seconds())
	reviews.WithLabelValues(h.kind, operationLabel(req.Operation), verdict).Inc()
}

func operationLabel(op admissionv1.Operation) string {
	switch op {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return string(op)
	}
	return operationOther
}

// verdict classifies a response: a 400 (undecodable object) or a 5xx is an
// error rather than a judgement on the object.
func verdict(resp admission.Response) string {
	if resp.Allowed {
		return verdictAllowed
	}
	if r := resp.Result; r != nil && (r.Code == http.StatusBadRequest || r.Code >= http.StatusInternalServerError) {
		return verdictError
	}
	return verdictDenied
}
