package metric

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// gathered is the value of every series of the named family in the registry, by its
// label values joined with ",".
func gathered(t *testing.T, family string) map[string]float64 {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += l.GetValue()
			}
			out[key] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

func TestDeclaredShape(t *testing.T) {
	c := CounterVec("test", "things_total", "Things, by color.", "color", "red", "blue")
	c.WithLabelValues("red").Inc()
	if got := gathered(t, "snaprestore_test_things_total"); len(got) != 2 || got["red"] != 1 || got["blue"] != 0 {
		t.Errorf("snaprestore_test_things_total = %v; want red 1 and blue 0 (created at zero)", got)
	}
	Gauge("test", "level", "A level.").Set(3)
	if got := gathered(t, "snaprestore_test_level"); got[""] != 3 {
		t.Errorf("snaprestore_test_level = %v; want 3", got)
	}
	Counter("test", "events_total", "Events.").Inc()
	if got := gathered(t, "snaprestore_test_events_total"); got[""] != 1 {
		t.Errorf("snaprestore_test_events_total = %v; want 1", got)
	}
}
