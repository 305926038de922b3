package main

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"single", []time.Duration{7}, 0.999, 7},
		{"median of 100 is the 50th", hundred, 0.5, 50 * time.Millisecond},
		{"p99 of 100 is the 99th", hundred, 0.99, 99 * time.Millisecond},
		{"p99.9 of 100 is the largest", hundred, 0.999, 100 * time.Millisecond},
		{"p0 is the smallest", hundred, 0, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := quantile(tc.sorted, tc.q); got != tc.want {
				t.Errorf("quantile(%d values, %g) = %v; want %v", len(tc.sorted), tc.q, got, tc.want)
			}
		})
	}
}

func TestMedianPhase(t *testing.T) {
	t.Parallel()
	runs := []phase{
		{PerSecond: 300, P99: 9 * time.Millisecond, AllocsPerReview: 10},
		{PerSecond: 100, P99: 1 * time.Millisecond, AllocsPerReview: 30},
		{PerSecond: 200, P99: 5 * time.Millisecond, AllocsPerReview: 20},
	}
	m := medianPhase(runs)
	if m.PerSecond != 200 || m.P99 != 5*time.Millisecond || m.AllocsPerReview != 20 {
		t.Errorf("medianPhase = %v/s, p99 %v, %v allocs; want each measure's own median: 200/s, 5ms, 20 allocs", m.PerSecond, m.P99, m.AllocsPerReview)
	}
}
