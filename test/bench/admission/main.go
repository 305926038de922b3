// Command admission-bench measures snaprestore's admission webhook under load
// (make bench, issue #2): it starts a real kube-apiserver (envtest) with the
// snapshot CRDs, seeds the objects the reviews refer to, serves the real
// validating and mutating handlers over HTTPS on loopback, and posts a fixed
// mix of pre-marshalled AdmissionReviews from concurrent keep-alive clients.
// The reference is a no-op handler on the same server, measured in the same
// run: phases alternate real, no-op, no-op, real, ... and medians are
// reported. Goals are printed as PASS/MISS for information; the exit status is
// non-zero only when the run itself fails (including a review of the mix that
// is not allowed).
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

type options struct {
	assets      string
	concurrency int
	requests    int
	duration    time.Duration
	rounds      int
	objects     int
	warmup      int
	json        bool
	cpuProfile  string
	http2       bool
}

// Goals of issue #2 on 2 cores.
const (
	goalPerSecond = 10000
	goalP99       = 2 * time.Millisecond
	goalRatio     = 0.8
)

func main() {
	var o options
	flag.StringVar(&o.assets, "assets", "", "directory with kube-apiserver and etcd (default $KUBEBUILDER_ASSETS, else bin)")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent keep-alive HTTPS clients")
	flag.IntVar(&o.requests, "requests", 30000, "reviews per phase (ignored with -duration)")
	flag.DurationVar(&o.duration, "duration", 0, "length of each phase instead of a fixed number of reviews")
	flag.IntVar(&o.rounds, "rounds", 5, "phases of each handler, alternating (medians are reported)")
	flag.IntVar(&o.objects, "objects", 16, "seeded snapshot/content pairs the reviews refer to")
	flag.IntVar(&o.warmup, "warmup", 2000, "unmeasured reviews per handler before the first phase")
	flag.BoolVar(&o.http2, "http2", false, "one HTTP/2 connection with -concurrency streams (as kube-apiserver calls webhooks) instead of HTTP/1.1 connections")
	flag.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phases (client and server share the process) to this file")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "admission-bench:", err)
		os.Exit(2)
	}
	measure := func(ctx context.Context) (*results, error) { return run(ctx, o) }
	if err := cluster.Report(o.json, measure, (*results).print); err != nil {
		fmt.Fprintln(os.Stderr, "admission-bench:", err)
		os.Exit(1)
	}
}

func (o options) validate() error {
	switch {
	case o.concurrency < 1:
		return fmt.Errorf("-concurrency %d: expected at least 1", o.concurrency)
	case o.duration == 0 && o.requests < 1:
		return fmt.Errorf("-requests %d: expected at least 1", o.requests)
	case o.duration < 0:
		return fmt.Errorf("-duration %s: expected a positive duration", o.duration)
	case o.rounds < 1:
		return fmt.Errorf("-rounds %d: expected at least 1", o.rounds)
	case o.objects < 1:
		return fmt.Errorf("-objects %d: expected at least 1", o.objects)
	case o.warmup < 0:
		return fmt.Errorf("-warmup %d: expected 0 or more", o.warmup)
	}
	return nil
}

// results is the report, also the -json document.
type results struct {
	Concurrency int           `json:"concurrency"`
	HTTP2       bool          `json:"http2"`
	Requests    int           `json:"requestsPerPhase,omitempty"`
	Duration    time.Duration `json:"phaseDurationNanos,omitempty"`
	Rounds      int           `json:"rounds"`
	Mix         int           `json:"mixSize"`
	GOMAXPROCS  int           `json:"gomaxprocs"`
	NumCPU      int           `json:"numCPU"`
	Real        phase         `json:"real"` // medians over rounds
	Noop        phase         `json:"noop"`
	Ratio       float64       `json:"ratioRealToNoop"`
	CPURatio    float64       `json:"cpuRatioNoopToReal"` // throughput ratio of a CPU-bound run
	Goals       []goal        `json:"goals"`
	Kinds       []kindStat    `json:"byKind"`
	RealRuns    []phase       `json:"realRuns"`
	NoopRuns    []phase       `json:"noopRuns"`
}

type goal struct {
	Name string  `json:"name"`
	Want string  `json:"want"`
	Got  float64 `json:"got"`
	Pass bool    `json:"pass"`
	show string  // Got as printed

}

// kindStat is the latency of one kind of review, pooled over all rounds.
type kindStat struct {
	Kind    string        `json:"kind"`
	RealP50 time.Duration `json:"realP50Nanos"`
	RealP99 time.Duration `json:"realP99Nanos"`
	NoopP50 time.Duration `json:"noopP50Nanos"`
}

func run(ctx context.Context, o options) (*results, error) {
	env, err := cluster.Start(ctx, cluster.Options{
		Assets:  o.assets,
		Webhook: webhook.Options{LonghornDrivers: []string{cluster.Driver}, DefaultDriver: cluster.Driver},
	})
	if err != nil {
		return nil, err
	}
	defer env.Stop()
	if err := seed(ctx, env, o.objects); err != nil {
		return nil, err
	}
	mix, err := reviews(o.objects)
	if err != nil {
		return nil, err
	}
	l, err := newLoader(env.URL, env.CAData, o.concurrency, o.http2, env.LiveReads.Load)
	if err != nil {
		return nil, err
	}
	real := phaseSpec{name: "real", requests: o.requests, duration: o.duration, workers: o.concurrency}
	noop := phaseSpec{name: "no-op", path: cluster.PathNoop, requests: o.requests, duration: o.duration, workers: o.concurrency}
	if o.warmup > 0 {
		for _, s := range []phaseSpec{real, noop} {
			s.requests, s.duration = o.warmup, 0
			if _, err := l.run(s, mix); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	res := &results{Concurrency: o.concurrency, HTTP2: o.http2, Rounds: o.rounds, Mix: len(mix), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU()}
	if o.duration > 0 {
		res.Duration = o.duration
	} else {
		res.Requests = o.requests
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("-cpuprofile %s: %w", o.cpuProfile, err)
		}
		defer pprof.StopCPUProfile()
	}
	// real, no-op, no-op, real, ...: a drift in the machine's load affects both alike.
	for r := range o.rounds {
		order := []phaseSpec{real, noop}
		if r%2 == 1 {
			order = []phaseSpec{noop, real}
		}
		for _, s := range order {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			p, err := l.run(s, mix)
			if err != nil {
				return nil, err
			}
			if s.name == real.name {
				res.RealRuns = append(res.RealRuns, p)
			} else {
				res.NoopRuns = append(res.NoopRuns, p)
			}
		}
	}
	res.Real, res.Noop = medianPhase(res.RealRuns), medianPhase(res.NoopRuns)
	res.Ratio = res.Real.PerSecond / res.Noop.PerSecond
	res.CPURatio = float64(res.Noop.CPUPerReview) / float64(res.Real.CPUPerReview)
	res.Goals = []goal{
		{Name: "real reviews/s", Want: fmt.Sprintf(">= %d", goalPerSecond), Got: res.Real.PerSecond, show: fmt.Sprintf("%.0f", res.Real.PerSecond), Pass: res.Real.PerSecond >= goalPerSecond},
		{Name: "real p99 ms", Want: fmt.Sprintf("<= %g", ms(goalP99)), Got: ms(res.Real.P99), show: fmt.Sprintf("%.3f", ms(res.Real.P99)), Pass: res.Real.P99 <= goalP99},
		{Name: "real/no-op throughput", Want: fmt.Sprintf(">= %g", goalRatio), Got: res.Ratio, show: fmt.Sprintf("%.2f", res.Ratio), Pass: res.Ratio >= goalRatio},
	}
	res.Kinds = kindStats(res.RealRuns, res.NoopRuns, mix)
	return res, nil
}

// medianPhase takes the median of each measure separately.
func medianPhase(runs []phase) phase {
	med := func(f func(phase) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	dur := func(f func(phase) time.Duration) time.Duration {
		return time.Duration(med(func(p phase) float64 { return float64(f(p)) }))
	}
	return phase{
		Reviews:         int(med(func(p phase) float64 { return float64(p.Reviews) })),
		Wall:            dur(func(p phase) time.Duration { return p.Wall }),
		PerSecond:       med(func(p phase) float64 { return p.PerSecond }),
		P50:             dur(func(p phase) time.Duration { return p.P50 }),
		P99:             dur(func(p phase) time.Duration { return p.P99 }),
		P999:            dur(func(p phase) time.Duration { return p.P999 }),
		AllocsPerReview: med(func(p phase) float64 { return p.AllocsPerReview }),
		BytesPerReview:  med(func(p phase) float64 { return p.BytesPerReview }),
		LiveReads:       int64(med(func(p phase) float64 { return float64(p.LiveReads) })),
		CPUPerReview:    dur(func(p phase) time.Duration { return p.CPUPerReview }),
	}
}

func kindStats(real, noop []phase, mix []review) []kindStat {
	pool := func(runs []phase, kind string) []time.Duration {
		var all []time.Duration
		for _, r := range runs {
			all = append(all, r.byKind[kind]...)
		}
		slices.Sort(all)
		return all
	}
	var out []kindStat
	for _, r := range mix {
		if slices.ContainsFunc(out, func(k kindStat) bool { return k.Kind == r.kind }) {
			continue
		}
		rl, nl := pool(real, r.kind), pool(noop, r.kind)
		out = append(out, kindStat{Kind: r.kind, RealP50: quantile(rl, 0.5), RealP99: quantile(rl, 0.99), NoopP50: quantile(nl, 0.5)})
	}
	slices.SortFunc(out, func(a, b kindStat) int { return cmp.Compare(a.Kind, b.Kind) })
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *results) print() {
	load := fmt.Sprintf("%d reviews", r.Requests)
	if r.Duration > 0 {
		load = r.Duration.String()
	}
	clients := fmt.Sprintf("%d keep-alive HTTPS clients", r.Concurrency)
	if r.HTTP2 {
		clients = fmt.Sprintf("%d concurrent HTTP/2 streams", r.Concurrency)
	}
	fmt.Printf("== admission benchmark: %s on loopback, %s per phase, %d rounds (medians), mix of %d reviews, GOMAXPROCS %d\n",
		clients, load, r.Rounds, r.Mix, r.GOMAXPROCS)
	fmt.Printf("  %-16s %10s %9s %9s %9s %14s %14s %14s\n", "handler", "reviews/s", "p50 ms", "p99 ms", "p99.9 ms", "allocs/review", "bytes/review", "CPU µs/review")
	for _, row := range []struct {
		name string
		p    phase
	}{{"no-op (baseline)", r.Noop}, {"real", r.Real}} {
		fmt.Printf("  %-16s %10.0f %9.3f %9.3f %9.3f %14.0f %14.0f %14.1f\n", row.name, row.p.PerSecond, ms(row.p.P50), ms(row.p.P99), ms(row.p.P999),
			row.p.AllocsPerReview, row.p.BytesPerReview, float64(row.p.CPUPerReview)/float64(time.Microsecond))
	}
	fmt.Printf("  ratio real/no-op throughput %.2f (by CPU per review, what a CPU-bound server would reach: %.2f)\n", r.Ratio, r.CPURatio)
	fmt.Printf("  the handlers add %.1f µs CPU and %.0f allocations per review (real minus no-op; client and server share the process); uncached reads per real phase %d\n",
		float64(r.Real.CPUPerReview-r.Noop.CPUPerReview)/float64(time.Microsecond), r.Real.AllocsPerReview-r.Noop.AllocsPerReview, r.Real.LiveReads)
	for _, g := range r.Goals {
		verdict := "MISS"
		if g.Pass {
			verdict = "PASS"
		}
		fmt.Printf("  goal %-22s %-9s got %-8s %s\n", g.Name, g.Want, g.show, verdict)
	}
	fmt.Printf("  (latency by kind is in -json; the cost of each kind's handler: go test -run '^$' -bench Review ./test/bench/admission)\n")
}
