package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/test/bench/measure"
)

// summarize fills in the medians and ratios of the runs, and the verdict.
func (res *results) summarize(o options) {
	res.Without, res.With = medianWall(res.Runs, without), medianWall(res.Runs, with)
	wall := func(p phaseResult) float64 { return p.Wall.Seconds() }
	res.WallRatio = pairedSpread(res.Runs, with, without, wall)
	res.Ratio = res.WallRatio.Median
	res.CPURatio = pairedSpread(res.Runs, with, without, func(p phaseResult) float64 { return p.CPU.Seconds() })
	res.APIServerCPURatio = pairedSpread(res.Runs, with, without, func(p phaseResult) float64 { return p.CPUBy["kube-apiserver"].Seconds() })
	if o.noop {
		res.Noop = medianWall(res.Runs, noop)
		res.NoopRatio = pairedSpread(res.Runs, noop, without, wall)
	}
	if o.mix {
		res.OtherRatio = pairedSpread(res.Runs, with, without, func(p phaseResult) float64 { return p.OtherP50.Seconds() })
		res.OtherMeanRatio = pairedSpread(res.Runs, with, without, func(p phaseResult) float64 { return p.OtherMean.Seconds() })
		for _, p := range res.Runs {
			if p.Mode == with {
				res.OtherSent += otherSent(o, p)
			}
		}
	}
	res.PluginsAdded = perRound(res.Runs, with, without, func(a, b phaseResult) float64 {
		return float64(a.Plugins-b.Plugins) / float64(time.Microsecond)
	})
	// Only with -other-only is every create one the webhooks are not sent: with
	// -mix the plugins' time includes the Longhorn objects' webhook calls.
	if o.otherOnly {
		res.PluginsRatio = perRound(res.Runs, with, without, func(a, b phaseResult) float64 {
			if b.OtherMean <= 0 {
				return 0
			}
			return 1 + (a.Plugins-b.Plugins).Seconds()/b.OtherMean.Seconds()
		})
	}
	if o.twin {
		twin := func(f func(phaseResult) (time.Duration, time.Duration)) func(phaseResult) float64 {
			return func(p phaseResult) float64 {
				mine, theirs := f(p)
				if theirs == 0 {
					return 0
				}
				return mine.Seconds() / theirs.Seconds()
			}
		}
		res.TwinRatio = pairedSpread(res.Runs, with, without, twin(func(p phaseResult) (time.Duration, time.Duration) { return p.OtherP50, p.TwinOtherP50 }))
		res.TwinMeanRatio = pairedSpread(res.Runs, with, without, twin(func(p phaseResult) (time.Duration, time.Duration) { return p.OtherMean, p.TwinOtherMean }))
	}
	res.Pass = res.Ratio <= goalRatio
}

// pairedSpread is the ratio f(num) / f(den) of the two phases of each round,
// summarized over the rounds.
func pairedSpread(runs []phaseResult, num, den mode, f func(phaseResult) float64) measure.Spread {
	return perRound(runs, num, den, func(a, b phaseResult) float64 {
		if f(b) <= 0 {
			return 0
		}
		return f(a) / f(b)
	})
}

// perRound is f of the phases of modes num and den of each round, summarized over
// the rounds; a round where f is 0 is left out.
func perRound(runs []phaseResult, num, den mode, f func(num, den phaseResult) float64) measure.Spread {
	var vs []float64
	for r := 1; ; r++ {
		var a, b *phaseResult
		for i, p := range runs {
			switch {
			case p.Round == r && p.Mode == num:
				a = &runs[i]
			case p.Round == r && p.Mode == den:
				b = &runs[i]
			}
		}
		if a == nil && b == nil {
			return measure.NewSpread(vs)
		}
		if a != nil && b != nil {
			if v := f(*a, *b); v != 0 {
				vs = append(vs, v)
			}
		}
	}
}

func medianWall(runs []phaseResult, m mode) time.Duration {
	var w []time.Duration
	for _, r := range runs {
		if r.Mode == m {
			w = append(w, r.Wall)
		}
	}
	slices.Sort(w)
	return w[len(w)/2]
}

func medianCPU(runs []phaseResult, m mode) time.Duration {
	return medianCPUOf(runs, m, func(p phaseResult) time.Duration { return p.CPU })
}

func medianCPUOf(runs []phaseResult, m mode, f func(phaseResult) time.Duration) time.Duration {
	var c []time.Duration
	for _, r := range runs {
		if r.Mode == m {
			c = append(c, f(r))
		}
	}
	slices.Sort(c)
	return c[len(c)/2]
}

// cpuBy prints the median CPU time of each process of the phases of mode m.
func cpuBy(runs []phaseResult, m mode) string {
	var names []string
	for _, r := range runs {
		for n := range r.CPUBy {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		d := medianCPUOf(runs, m, func(p phaseResult) time.Duration { return p.CPUBy[n] })
		label := n
		if n == cluster.SelfName {
			label = "clients+webhook"
		}
		parts = append(parts, fmt.Sprintf("%s %.2f s", label, d.Seconds()))
	}
	return strings.Join(parts, ", ")
}

func (r *results) print() {
	var experiments []string
	if r.HTTP1 {
		experiments = append(experiments, "webhook server HTTP/1.1 only")
	}
	exp := ""
	if len(experiments) > 0 {
		exp = "; experiment: " + strings.Join(experiments, ", ")
	}
	fmt.Printf("== API-server benchmark: %d VolumeSnapshots + %d VolumeSnapshotContents per phase, %d workers, %d rounds, GOMAXPROCS %d%s\n",
		r.Objects, r.Objects, r.Workers, r.Rounds, r.GOMAXPROCS, exp)
	fmt.Printf("  load average %s at the first phase, %s after the last\n", r.LoadStart, r.LoadEnd)
	rate := func(d time.Duration) float64 { return float64(2*r.Objects) / d.Seconds() }
	row := func(label string, wall time.Duration, m mode, note string) {
		fmt.Printf("  %-20s: %7.2f s  %7.0f objects/s  CPU %6.2f s  (median; runs %s%s)\n", label, wall.Seconds(), rate(wall), medianCPU(r.Runs, m).Seconds(), walls(r.Runs, m), note)
		fmt.Printf("  %-20s  CPU by process: %s\n", "", cpuBy(r.Runs, m))
	}
	row("without webhooks", r.Without, without, "; baseline")
	row("with webhooks", r.With, with, "")
	if r.Noop > 0 {
		row("with no-op webhooks", r.Noop, noop, "; what any webhook costs")
	}
	fmt.Printf("  per round, with/without: wall %s (goal <= %.2f) %s\n", r.WallRatio, r.Goal, measure.Verdict(r.Pass))
	if r.Noop > 0 {
		fmt.Printf("  per round, no-op/without: wall %s\n", r.NoopRatio)
	}
	fmt.Printf("  per round, with/without: CPU %s (etcd + kube-apiserver + clients + webhook); kube-apiserver CPU %s\n", r.CPURatio, r.APIServerCPURatio)
	if r.Mix {
		share := "half of each phase"
		if r.OtherOnly {
			share = "every object"
		}
		fmt.Printf("  another driver's objects (%s): median create latency with/without per round %s (goal <= %.2f) %s; with %s, without %s\n",
			share, r.OtherRatio, goalOtherRatio, measure.Verdict(r.OtherRatio.Median <= goalOtherRatio),
			medianOf(r.Runs, with, func(p phaseResult) time.Duration { return p.OtherP50 }).Round(10*time.Microsecond),
			medianOf(r.Runs, without, func(p phaseResult) time.Duration { return p.OtherP50 }).Round(10*time.Microsecond))
		fmt.Printf("  another driver's objects: mean create latency with/without per round %s\n", r.OtherMeanRatio)
		if r.Twin {
			fmt.Printf("  against the twin control plane (same objects, back to back): median create latency with/without per round %s (goal <= %.2f) %s; mean %s\n",
				r.TwinRatio, goalOtherRatio, measure.Verdict(r.TwinRatio.Median <= goalOtherRatio), r.TwinMeanRatio)
		}
		fmt.Printf("  kube-apiserver's webhook admission plugins, per create (every create of the phase): with %s, without %s; added per round (µs) %s\n",
			medianOf(r.Runs, with, func(p phaseResult) time.Duration { return p.Plugins }).Round(100*time.Nanosecond),
			medianOf(r.Runs, without, func(p phaseResult) time.Duration { return p.Plugins }).Round(100*time.Nanosecond), r.PluginsAdded)
		if r.OtherOnly {
			fmt.Printf("  another driver's objects, 1 + added plugin time / mean create latency without, per round %s (goal <= %.2f) %s\n",
				r.PluginsRatio, goalOtherRatio, measure.Verdict(r.PluginsRatio.Median <= goalOtherRatio))
		}
		fmt.Printf("  another driver's objects reviewed by the webhook (its %s, phases with webhooks): %d\n", reviewsMetric, r.OtherSent)
	}
	var warnings, live int64
	for _, p := range r.Runs {
		if p.Mode == with {
			warnings, live = warnings+p.Warnings, live+p.LiveReads
		}
	}
	fmt.Printf("  reviews served %d; with webhooks: %d warnings returned, %d uncached reads by the handlers (cache misses)\n", r.ReviewsTotal, warnings, live)
}

func walls(runs []phaseResult, m mode) string {
	var s []string
	for _, r := range runs {
		if r.Mode == m {
			s = append(s, fmt.Sprintf("%.2f", r.Wall.Seconds()))
		}
	}
	return strings.Join(s, " ")
}

// medianOf is the median of f over the phases of mode m.
func medianOf(runs []phaseResult, m mode, f func(phaseResult) time.Duration) time.Duration {
	var d []time.Duration
	for _, r := range runs {
		if r.Mode == m {
			d = append(d, f(r))
		}
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}
