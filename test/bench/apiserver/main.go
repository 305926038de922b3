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
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
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
	noop    bool
	json    bool
}

// goalRatio is issue #3's bound on wall time with webhooks / without.
const goalRatio = 1.10

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
	flag.IntVar(&o.rounds, "rounds", 3, "phases of each kind, alternating without, with[, noop], without, ... (medians are reported)")
	flag.BoolVar(&o.noop, "noop", true, "also measure the configurations served by a no-op handler (what any webhook costs)")
	flag.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	flag.Parse()
	if o.objects < 1 || o.workers < 1 || o.rounds < 1 {
		fmt.Fprintf(os.Stderr, "apiserver-bench: -objects %d, -workers %d, -rounds %d: expected at least 1 each\n", o.objects, o.workers, o.rounds)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiserver-bench:", err)
		os.Exit(1)
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "apiserver-bench:", err)
			os.Exit(1)
		}
		return
	}
	res.print()
}

// results is the report, also the -json document.
type results struct {
	Objects      int           `json:"objects"`
	Workers      int           `json:"workers"`
	Rounds       int           `json:"rounds"`
	GOMAXPROCS   int           `json:"gomaxprocs"`
	Without      time.Duration `json:"withoutNanos"` // medians
	With         time.Duration `json:"withNanos"`
	Noop         time.Duration `json:"noopNanos,omitempty"`
	Ratio        float64       `json:"ratioWithToWithout"`
	NoopRatio    float64       `json:"ratioNoopToWithout,omitempty"`
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
	b, err := newBench(env)
	if err != nil {
		return nil, err
	}
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	res := &results{Objects: o.objects, Workers: o.workers, Rounds: o.rounds, GOMAXPROCS: runtime.GOMAXPROCS(0), Goal: goalRatio}
	modes := []mode{without, with}
	if o.noop {
		modes = append(modes, noop)
	}
	for r := range o.rounds {
		for _, m := range modes {
			if err := b.register(ctx, m); err != nil {
				return nil, err
			}
			ns := fmt.Sprintf("bench-%s-%d", m, r+1)
			p, err := b.phase(ctx, ns, o.objects, o.workers)
			if err != nil {
				return nil, fmt.Errorf("phase %s: %w", ns, err)
			}
			p.Mode = m
			// With configurations every object passes the webhooks: the content
			// one validating, the snapshot one mutating and one validating.
			if m != without && p.Reviews < int64(3*o.objects) {
				return nil, fmt.Errorf("phase %s: the webhooks served %d reviews for %d objects; expected at least %d (are the configurations in effect?)", ns, p.Reviews, 2*o.objects, 3*o.objects)
			}
			if m == without && p.Reviews != 0 {
				return nil, fmt.Errorf("phase %s: the webhooks served %d reviews although their configurations were deleted; expected 0", ns, p.Reviews)
			}
			res.Runs = append(res.Runs, p)
		}
	}
	res.Without, res.With = medianWall(res.Runs, without), medianWall(res.Runs, with)
	res.Ratio = res.With.Seconds() / res.Without.Seconds()
	if o.noop {
		res.Noop = medianWall(res.Runs, noop)
		res.NoopRatio = res.Noop.Seconds() / res.Without.Seconds()
	}
	res.Pass = res.Ratio <= goalRatio
	res.ReviewsTotal = b.reviews()
	return res, nil
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

func (r *results) print() {
	fmt.Printf("== API-server benchmark: %d VolumeSnapshots + %d VolumeSnapshotContents per phase, %d workers, %d rounds (medians), GOMAXPROCS %d\n",
		r.Objects, r.Objects, r.Workers, r.Rounds, r.GOMAXPROCS)
	rate := func(d time.Duration) float64 { return float64(2*r.Objects) / d.Seconds() }
	fmt.Printf("  without webhooks        : %7.2f s  %7.0f objects/s  (baseline; runs %s)\n", r.Without.Seconds(), rate(r.Without), walls(r.Runs, without))
	fmt.Printf("  with webhooks           : %7.2f s  %7.0f objects/s  (runs %s)\n", r.With.Seconds(), rate(r.With), walls(r.Runs, with))
	if r.Noop > 0 {
		fmt.Printf("  with no-op webhooks     : %7.2f s  %7.0f objects/s  (runs %s; what any webhook costs)\n", r.Noop.Seconds(), rate(r.Noop), walls(r.Runs, noop))
	}
	verdict := "MISS"
	if r.Pass {
		verdict = "PASS"
	}
	fmt.Printf("  ratio with/without %.2f (goal <= %.2f) %s", r.Ratio, r.Goal, verdict)
	if r.Noop > 0 {
		fmt.Printf("; no-op/without %.2f", r.NoopRatio)
	}
	fmt.Println()
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
