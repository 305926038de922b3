package measure

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Rounds collect, round by round, the time of a baseline and of each named
// way of doing the same work, for a Go benchmark that compares them in the
// same run. Per-round ratios cancel the slow drifts of a shared machine's
// load that a ratio of two sums keeps.
type Rounds struct {
	// Baseline names the series the others are compared with ("restore").
	Baseline string
	// Goals holds, by series, the goal for the median of its
	// throughput ratios against the baseline: Report says PASS or MISS.
	Goals map[string]float64
	// ways are the ways of doing the work (Add); parts are series reported
	// on their own, never as a ratio (Part).
	ways, parts series
}

// series are named lists of per-round times, in the order first added.
type series struct {
	times map[string][]time.Duration
	order []string
}

func (s *series) add(name string, d time.Duration) {
	if s.times == nil {
		s.times = map[string][]time.Duration{}
	}
	if _, ok := s.times[name]; !ok {
		s.order = append(s.order, name)
	}
	s.times[name] = append(s.times[name], d)
}

// Add records one round's time of series name.
func (r *Rounds) Add(name string, d time.Duration) { r.ways.add(name, d) }

// Part records one round's time of series name that is a part of another
// series' work, not a way of doing it (the overhead around an engine):
// Report gives its mean and median seconds, no ratio.
func (r *Rounds) Part(name string, d time.Duration) { r.parts.add(name, d) }

// Report reports each series' mean seconds per round ("<name>-s/op") and, for
// every series but the baseline, the median of the per-round throughput
// ratios baseline/series ("<name>/<baseline>-throughput"; above 1 the series
// is faster); it logs each ratio's spread, its goal's verdict and the load
// average.
func (r *Rounds) Report(b *testing.B) {
	b.Helper()
	base := r.ways.times[r.Baseline]
	if len(base) == 0 {
		b.Fatalf("measure.Rounds: no round of the baseline %q", r.Baseline)
	}
	for _, name := range r.ways.order {
		ts := r.ways.times[name]
		var sum time.Duration
		for _, t := range ts {
			sum += t
		}
		b.ReportMetric(sum.Seconds()/float64(len(ts)), name+"-s/op")
		if name == r.Baseline {
			continue
		}
		if len(ts) != len(base) {
			b.Fatalf("measure.Rounds: %d rounds of %q, %d of the baseline %q", len(ts), name, len(base), r.Baseline)
		}
		ratios := make([]float64, len(ts))
		for i := range ts {
			ratios[i] = base[i].Seconds() / ts[i].Seconds()
		}
		s := NewSpread(ratios)
		b.ReportMetric(s.Median, name+"/"+r.Baseline+"-throughput")
		verdict := ""
		if g, ok := r.Goals[name]; ok {
			verdict = fmt.Sprintf(" (goal >= %g: %s)", g, Verdict(s.Median >= g))
		}
		b.Logf("%s/%s throughput: %s%s; load average %s", name, r.Baseline, s, verdict, LoadAverage())
	}
	for _, name := range r.parts.order {
		secs := make([]float64, len(r.parts.times[name]))
		for i, d := range r.parts.times[name] {
			secs[i] = d.Seconds()
		}
		s := NewSpread(secs)
		b.ReportMetric(s.Median, name+"-median-s")
		b.Logf("%s seconds: %s", name, s)
	}
}

// Alternate runs fns in round i's turn: rotated by i, so that no step always
// runs first and none always pays for another's write-back.
func Alternate(i int, fns ...func()) {
	for _, f := range slices.Concat(fns[i%len(fns):], fns[:i%len(fns)]) {
		f()
	}
}
