package webhook

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestInstrumentVerdicts(t *testing.T) {
	t.Parallel()
	const kind = "TestInstrumentKind" // a label value no registered handler uses
	for _, tc := range []struct {
		name      string
		op        admissionv1.Operation
		resp      func() admission.Response
		wantOp    string
		wantVerd  string
		wantPanic bool
	}{
		{"allowed", admissionv1.Create, func() admission.Response { return admission.Allowed("") }, "CREATE", verdictAllowed, false},
		{"denied", admissionv1.Update, func() admission.Response { return admission.Denied("no") }, "UPDATE", verdictDenied, false},
		{"undecodable", admissionv1.Create, func() admission.Response { return admission.Errored(http.StatusBadRequest, errors.New("bad")) }, "CREATE", verdictError, false},
		{"server error", admissionv1.Delete, func() admission.Response { return admission.Errored(http.StatusInternalServerError, errors.New("x")) }, "DELETE", verdictError, false},
		{"unknown operation", "PATCH", func() admission.Response { return admission.Allowed("") }, operationOther, verdictAllowed, false},
		{"panic", admissionv1.Connect, func() admission.Response { panic("handler bug") }, "CONNECT", verdictError, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter := reviews.WithLabelValues(kind, tc.wantOp, tc.wantVerd)
			before := counterValue(t, counter)
			h := instrument(kind, admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return tc.resp() }))
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: tc.op}}
			func() {
				defer func() {
					if r := recover(); (r != nil) != tc.wantPanic {
						t.Errorf("recovered %v, want a panic: %v", r, tc.wantPanic)
					}
				}()
				h.Handle(context.Background(), req)
			}()
			if got := counterValue(t, counter) - before; got != 1 {
				t.Errorf("snaprestore_webhook_reviews_total{kind=%q,operation=%q,verdict=%q} rose by %v, want 1", kind, tc.wantOp, tc.wantVerd, got)
			}
		})
	}
	// Registered on controller-runtime's registry, with the known kinds from the start.
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "snaprestore_webhook_review_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				kinds[l.GetValue()] = true
			}
		}
	}
	for _, k := range []string{reviewKindSnapshot, reviewKindContent, reviewKindClass, reviewKindPVC, kind} {
		if !kinds[k] {
			t.Errorf("snaprestore_webhook_review_duration_seconds has no series for kind %q in metrics.Registry", k)
		}
	}
}
