package main

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/metrics"

	e2ecluster "github.com/snaprestore/snaprestore/test/e2e/cluster"
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

// webhookPlugins are kube-apiserver's admission plugins that call webhooks: with
// configurations registered they match every create against them (rules,
// selectors, matchConditions) before deciding to send it or not.
var webhookPlugins = []string{"MutatingAdmissionWebhook", "ValidatingAdmissionWebhook"}

// pluginTime is kube-apiserver's own account (apiserver_admission_controller_
// admission_duration_seconds, sum and count) of the time CREATE requests spent
// in webhookPlugins, so far.
type pluginTime struct{ sum, count [2]float64 }

func (b *bench) pluginTime(ctx context.Context) (pluginTime, error) {
	body, err := b.core.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return pluginTime{}, fmt.Errorf("GET kube-apiserver /metrics: %w", err)
	}
	const metric = "apiserver_admission_controller_admission_duration_seconds"
	var t pluginTime
	for i, name := range webhookPlugins {
		want := map[string]string{"name": name, "operation": "CREATE"}
		if t.sum[i], err = e2ecluster.SumSamples(string(body), metric+"_sum", want); err != nil {
			return pluginTime{}, err
		}
		if t.count[i], err = e2ecluster.SumSamples(string(body), metric+"_count", want); err != nil {
			return pluginTime{}, err
		}
	}
	return t, nil
}

// perCreate is the mean time one create spent in the webhook plugins between
// t0 and t (each plugin's mean, added).
func (t pluginTime) perCreate(t0 pluginTime) time.Duration {
	var d float64
	for i := range t.sum {
		if n := t.count[i] - t0.count[i]; n > 0 {
			d += (t.sum[i] - t0.sum[i]) / n
		}
	}
	return time.Duration(d * float64(time.Second))
}
