package main

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// reviewsMetric is the webhook's own count of the reviews it answered, by kind
// (webhook/metrics.go).
const reviewsMetric = "snaprestore_webhook_reviews_total"

// reviewedByKind reads reviewsMetric from controller-runtime's registry, where the
// in-process webhook registers it, summed by the kind label.
func reviewedByKind() (map[string]int64, error) {
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather the webhook's metrics: %w", err)
	}
	by := map[string]int64{}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != reviewsMetric {
			continue
		}
		found = true
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" {
					by[l.GetValue()] += int64(m.GetCounter().GetValue())
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("metric %s is not on controller-runtime's registry; expected the webhook package's metrics there", reviewsMetric)
	}
	return by, nil
}
