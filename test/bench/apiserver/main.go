// Command apiserver-bench measures what snaprestore's webhooks cost a user of
// the API server (make bench, issue #3): it starts a real kube-apiserver
// (envtest) with the snapshot CRDs and the real handlers served in-process
// over HTTPS, then creates VolumeSnapshotContents (bak:// handles) and their
// VolumeSnapshots through the API server with a typed client, alternately
// without and with the Validating/MutatingWebhookConfigurations registered
// (and, for reference, with the same configurations served by a no-op
// handler), each phase in a namespace of its own. It reports the median wall
// times and their ratio. The goal is printed as PASS/MISS for information; the exit
// status is non-zero only when the run itself fails, including a phase that
// did not run as labelled (webhooks called without configurations, or not
// called with them).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

type options struct {
	assets  string
	objects int
	workers int
	rounds  int
	warmup  int
	noop    bool
	json    bool
	// http1 makes the webhook server offer only HTTP/1.1, so kube-apiserver
	// calls it over HTTP/1.1 connections instead of one HTTP/2 connection.
	http1 bool
	// mix makes every other object pair another CSI driver's (issue #13): a
	// VolumeSnapshotContent of otherDriver and a dynamic VolumeSnapshot, which the
	// webhooks' matchConditions do not send.
	mix bool
	// otherOnly makes every object pair another CSI driver's: what the webhooks cost
	// objects they are not sent (the matchConditions' evaluation only).
	otherOnly bool
}

// goalRatio is issue #3's bound on wall time with webhooks / without.
const goalRatio = 1.10

// goalOtherRatio is issue #13's bound on the mean create latency of another driver's
// objects with webhooks / without: they are not sent.
const goalOtherRatio = 1.02

// mode is what is registered during a phase.
type mode string

const (
	without mode = "without" // no webhook configurations
	with    mode = "with"    // the configurations, served by the real handlers
	noop    mode = "noop"    // the same configurations, every webhook served by the no-op handler
)

func main() {
	var o options
	flag.StringVar(&o.assets, "assets", "", "directory with kube-apiserver and etcd (default $KUBEBUILDER_ASSETS, else bin)")
	flag.IntVar(&o.objects, "objects", 1000, "VolumeSnapshots (each with its VolumeSnapshotContent) created per phase")
	flag.IntVar(&o.workers, "workers", 8, "concurrent creators")
	flag.IntVar(&o.rounds, "rounds", 3, "phases of each kind, alternating without, with[, noop][, noop], with, without, ... (medians are reported)")
	flag.IntVar(&o.warmup, "warmup", 200, "objects created, unmeasured, with the webhooks registered before the first phase")
	flag.BoolVar(&o.noop, "noop", true, "also measure the configurations served by a no-op handler (what any webhook costs)")
	flag.BoolVar(&o.http1, "http1", false, "experiment: the webhook server offers only HTTP/1.1 (ALPN), not HTTP/2")
	flag.BoolVar(&o.mix, "mix", false, "half the object pairs belong to another CSI driver (not sent to the webhooks); their latency is reported apart")
	flag.BoolVar(&o.otherOnly, "other-only", false, "every object pair belongs to another CSI driver: no review may be sent")
	flag.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	flag.Parse()
	if o.objects < 1 || o.workers < 1 || o.rounds < 1 {
		fmt.Fprintf(os.Stderr, "apiserver-bench: -objects %d, -workers %d, -rounds %d: expected at least 1 each\n", o.objects, o.workers, o.rounds)
		os.Exit(2)
	}
	if o.warmup < 0 {
		fmt.Fprintf(os.Stderr, "apiserver-bench: -warmup %d: expected 0 or more\n", o.warmup)
		os.Exit(2)
	}
	measure := func(ctx context.Context) (*results, error) { return run(ctx, o) }
	if err := cluster.Report(o.json, measure, (*results).print); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver-bench:", err)
		os.Exit(1)
	}
}

// results is the report, also the -json document.
type results struct {
	Objects    int           `json:"objects"`
	HTTP1      bool          `json:"http1"`
	Workers    int           `json:"workers"`
	Rounds     int           `json:"rounds"`
	GOMAXPROCS int           `json:"gomaxprocs"`
	Without    time.Duration `json:"withoutNanos"` // medians
	With       time.Duration `json:"withNanos"`
	Noop       time.Duration `json:"noopNanos,omitempty"`
	Ratio      float64       `json:"ratioWithToWithout"`
	NoopRatio  float64       `json:"ratioNoopToWithout,omitempty"`
	CPURatio   float64       `json:"cpuRatioWithToWithout"` // median CPU time, with / without
	Mix        bool          `json:"mix"`
	OtherOnly  bool          `json:"otherOnly"`
	// OtherRatio is the median over phases of the other driver's mean create
	// latency, with / without (-mix).
	OtherRatio   float64       `json:"ratioOtherDriverWithToWithout,omitempty"`
	Goal         float64       `json:"goalRatio"`
	Pass         bool          `json:"pass"`
	Runs         []phaseResult `json:"runs"`
	ReviewsTotal int64         `json:"reviewsServed"`
}

// phaseResult is one timed phase.
type phaseResult struct {
	Mode      mode          `json:"mode"`
	Namespace string        `json:"namespace"`
	Wall      time.Duration `json:"wallNanos"`
	Reviews   int64         `json:"reviews"`   // webhook calls during the phase
	Warnings  int64         `json:"warnings"`  // warnings the API server returned
	LiveReads int64         `json:"liveReads"` // the handlers' uncached reads (cache misses)
	// CPU is the CPU time of the whole system under test during the phase:
	// etcd, kube-apiserver, and this process (clients, webhook server).
	CPU   time.Duration            `json:"cpuNanos"`
	CPUBy map[string]time.Duration `json:"cpuByProcessNanos"` // "self" is the benchmark process
	// OtherMean is the mean create latency of the other driver's objects (-mix).
	OtherMean time.Duration `json:"otherDriverMeanNanos,omitempty"`
}

func run(ctx context.Context, o options) (*results, error) {
	copts := cluster.Options{
		Assets:  o.assets,
		Webhook: webhook.Options{LonghornDrivers: []string{cluster.Driver}, DefaultDriver: cluster.Driver},
	}
	if o.http1 {
		copts.TLSOpts = append(copts.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	env, err := cluster.Start(ctx, copts)
	if err != nil {
		return nil, err
	}
	defer env.Stop()
	b, err := newBench(env)
	if err != nil {
		return nil, err
	}
	b.mix, b.otherOnly = o.mix || o.otherOnly, o.otherOnly
	o.mix = b.mix
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	res := &results{Mix: o.mix || o.otherOnly, OtherOnly: o.otherOnly, HTTP1: o.http1, Objects: o.objects, Workers: o.workers, Rounds: o.rounds, GOMAXPROCS: runtime.GOMAXPROCS(0), Goal: goalRatio}
	modes := []mode{without, with}
	if o.noop {
		modes = append(modes, noop)
	}
	// Unmeasured: the webhook connection, the caches and etcd warm up.
	if o.warmup > 0 {
		if err := b.register(ctx, with); err != nil {
			return nil, err
		}
		if _, err := b.phase(ctx, "bench-warmup", o.warmup, o.workers); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	// without, with, noop, noop, with, without, ...: objects pile up in etcd
	// from phase to phase, and reversing every other round spreads that drift
	// over all modes alike.
	for r := range o.rounds {
		order := slices.Clone(modes)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, m := range order {
			if err := b.register(ctx, m); err != nil {
				return nil, err
			}
			ns := fmt.Sprintf("bench-%s-%d", m, r+1)
			p, err := b.phase(ctx, ns, o.objects, o.workers)
			if err != nil {
				return nil, fmt.Errorf("phase %s: %w", ns, err)
			}
			p.Mode = m
			if err := checkReviews(o, m, ns, p); err != nil {
				return nil, err
			}
			res.Runs = append(res.Runs, p)
		}
	}
	res.summarize(o)
	res.ReviewsTotal = b.reviews()
	return res, nil
}

// checkReviews proves a phase ran under the configurations its mode names:
// the reviews the webhooks served fit the Longhorn objects created.
func checkReviews(o options, m mode, ns string, p phaseResult) error {
	// With configurations every object passes the webhooks: one validating
	// review for the content and one for the snapshot (the mutating webhook's
	// matchCondition skips snapshots that name no backup).
	const perPair = 2
	longhorn := int64(o.objects)
	switch {
	case o.otherOnly:
		longhorn = 0
	case o.mix:
		longhorn = int64(o.objects+1) / 2
	}
	if m == with && o.otherOnly && p.Reviews != 0 {
		return fmt.Errorf("phase %s: the webhooks served %d reviews for %d object pairs of another driver; expected none", ns, p.Reviews, o.objects)
	}
	if m != without && p.Reviews < perPair*longhorn {
		return fmt.Errorf("phase %s: the webhooks served %d reviews for %d Longhorn objects; expected at least %d (are the configurations in effect?)", ns, p.Reviews, longhorn, perPair*longhorn)
	}
	if m == with && o.mix && p.Reviews >= perPair*int64(o.objects) {
		return fmt.Errorf("phase %s: the webhooks served %d reviews for %d objects, half of another driver; expected fewer than %d (are the other driver's objects sent?)", ns, p.Reviews, o.objects, perPair*int64(o.objects))
	}
	if m == without && p.Reviews != 0 {
		return fmt.Errorf("phase %s: the webhooks served %d reviews although their configurations were deleted; expected 0", ns, p.Reviews)
	}
	return nil
}

// summarize fills in the medians and ratios of the runs, and the verdict.
func (res *results) summarize(o options) {
	res.Without, res.With = medianWall(res.Runs, without), medianWall(res.Runs, with)
	res.Ratio = res.With.Seconds() / res.Without.Seconds()
	res.CPURatio = medianCPU(res.Runs, with).Seconds() / medianCPU(res.Runs, without).Seconds()
	if o.noop {
		res.Noop = medianWall(res.Runs, noop)
		res.NoopRatio = res.Noop.Seconds() / res.Without.Seconds()
	}
	if o.mix {
		res.OtherRatio = medianOf(res.Runs, with, func(p phaseResult) time.Duration { return p.OtherMean }).Seconds() /
			medianOf(res.Runs, without, func(p phaseResult) time.Duration { return p.OtherMean }).Seconds()
	}
	res.Pass = res.Ratio <= goalRatio
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
	fmt.Printf("== API-server benchmark: %d VolumeSnapshots + %d VolumeSnapshotContents per phase, %d workers, %d rounds (medians), GOMAXPROCS %d%s\n",
		r.Objects, r.Objects, r.Workers, r.Rounds, r.GOMAXPROCS, exp)
	rate := func(d time.Duration) float64 { return float64(2*r.Objects) / d.Seconds() }
	row := func(label string, wall time.Duration, m mode, note string) {
		fmt.Printf("  %-20s: %7.2f s  %7.0f objects/s  CPU %6.2f s  (runs %s%s)\n", label, wall.Seconds(), rate(wall), medianCPU(r.Runs, m).Seconds(), walls(r.Runs, m), note)
		fmt.Printf("  %-20s  CPU by process: %s\n", "", cpuBy(r.Runs, m))
	}
	row("without webhooks", r.Without, without, "; baseline")
	row("with webhooks", r.With, with, "")
	if r.Noop > 0 {
		row("with no-op webhooks", r.Noop, noop, "; what any webhook costs")
	}
	verdict := "MISS"
	if r.Pass {
		verdict = "PASS"
	}
	fmt.Printf("  ratio with/without %.2f (goal <= %.2f) %s", r.Ratio, r.Goal, verdict)
	if r.Noop > 0 {
		fmt.Printf("; no-op/without %.2f", r.NoopRatio)
	}
	fmt.Printf("; CPU with/without %.2f (etcd + kube-apiserver + clients + webhook)\n", r.CPURatio)
	if r.Mix {
		verdict := "MISS"
		if r.OtherRatio <= goalOtherRatio {
			verdict = "PASS"
		}
		share := "half of each phase"
		if r.OtherOnly {
			share = "every object"
		}
		fmt.Printf("  another driver's objects (%s, not sent): mean create latency with/without %.3f (goal <= %.2f) %s; with %s, without %s\n",
			share, r.OtherRatio, goalOtherRatio, verdict, medianOf(r.Runs, with, func(p phaseResult) time.Duration { return p.OtherMean }),
			medianOf(r.Runs, without, func(p phaseResult) time.Duration { return p.OtherMean }))
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
