package measure

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewSpread(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		rs   []float64
		want Spread
	}{
		{"none", nil, Spread{}},
		{"one", []float64{1.5}, Spread{Median: 1.5, Q1: 1.5, Q3: 1.5, Min: 1.5, Max: 1.5, Rounds: []float64{1.5}}},
		{"odd, unsorted", []float64{1.04, 0.98, 1.10, 1.00, 1.01},
			Spread{Median: 1.01, Q1: 1.00, Q3: 1.04, Min: 0.98, Max: 1.10, Rounds: []float64{1.04, 0.98, 1.10, 1.00, 1.01}}},
		{"even", []float64{4, 1, 3, 2}, Spread{Median: 2, Q1: 1, Q3: 3, Min: 1, Max: 4, Rounds: []float64{4, 1, 3, 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(c.want, NewSpread(c.rs)); diff != "" {
				t.Errorf("NewSpread(%v) (-want +got):\n%s", c.rs, diff)
			}
		})
	}
	if got, want := NewSpread([]float64{1.04, 0.98, 1.10, 1.00, 1.01}).String(), "1.010 (IQR 1.000–1.040, min 0.980, max 1.100, 5 rounds)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestLoadAverage(t *testing.T) {
	t.Parallel()
	if got := LoadAverage(); got == "unknown" || len(got) < 5 {
		t.Errorf("LoadAverage() = %q; want three numbers from /proc/loadavg", got)
	}
}
