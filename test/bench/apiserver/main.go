// Command apiserver-bench measures what snaprestore's webhooks cost a user of
// the API server (make bench, issue #3): it starts a real kube-apiserver
// (envtest) with the snapshot CRDs and the real handlers served in-process
// over HTTPS, then creates VolumeSnapshotContents (bak:// handles) and their
// VolumeSnapshots through the API server with a typed client, alternately
// without and with the Validating/MutatingWebhookConfigurations registered,
// each phase in a namespace of its own. It reports the median wall times and
// their ratio. The goal is printed as PASS/MISS for information; the exit
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
	"time"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/webhook"
)

type options struct {
	assets  string
	objects int
	workers int
	rounds  int
	json    bool
}

// goalRatio is issue #3's bound on wall time with webhooks / without.
const goalRatio = 1.10

func main() {
	var o options
	flag.StringVar(&o.assets, "assets", "", "directory with kube-apiserver and etcd (default $KUBEBUILDER_ASSETS, else bin)")
	flag.IntVar(&o.objects, "objects", 1000, "VolumeSnapshots (each with its VolumeSnapshotContent) created per phase")
	flag.IntVar(&o.workers, "workers", 8, "concurrent creators")
	flag.IntVar(&o.rounds, "rounds", 3, "phases of each kind, alternating without, with, without, ... (medians are reported)")
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
	Ratio        float64       `json:"ratioWithToWithout"`
	Goal         float64       `json:"goalRatio"`
	Pass         bool          `json:"pass"`
	WithoutRuns  []phaseResult `json:"withoutRuns"`
	WithRuns     []phaseResult `json:"withRuns"`
	ReviewsTotal int64         `json:"reviewsServed"`
}

// phaseResult is one timed phase.
type phaseResult struct {
	Namespace string        `json:"namespace"`
	Wall      time.Duration `json:"wallNanos"`
	Reviews   int64         `json:"reviews"`  // webhook calls during the phase
	Warnings  int64         `json:"warnings"` // warnings the API server returned
}

func run(ctx context.Context, o options) (*results, error) {
	env, err := cluster.Start(ctx, cluster.Options{
		Assets:   o.assets,
		Validate: webhook.ValidateOptions{LonghornDrivers: []string{cluster.Driver}},
		Mutate:   webhook.MutateOptions{DefaultDriver: cluster.Driver},
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
	for r := range o.rounds {
		for _, with := range []bool{false, true} {
			if err := b.register(ctx, with); err != nil {
				return nil, err
			}
			mode := "without"
			if with {
				mode = "with"
			}
			ns := fmt.Sprintf("bench-%s-%d", mode, r+1)
			p, err := b.phase(ctx, ns, o.objects, o.workers)
			if err != nil {
				return nil, fmt.Errorf("phase %s: %w", ns, err)
			}
			// Each object passes at least one webhook with the configurations
			// registered (content: validate; snapshot: mutate, validate).
			if with && p.Reviews < int64(3*o.objects) {
				return nil, fmt.Errorf("phase %s: the webhooks served %d reviews for %d objects; expected at least %d (are the configurations in effect?)", ns, p.Reviews, 2*o.objects, 3*o.objects)
			}
			if !with && p.Reviews != 0 {
				return nil, fmt.Errorf("phase %s: the webhooks served %d reviews although their configurations were deleted; expected 0", ns, p.Reviews)
			}
			if with {
				res.WithRuns = append(res.WithRuns, p)
			} else {
				res.WithoutRuns = append(res.WithoutRuns, p)
			}
		}
	}
	res.Without, res.With = medianWall(res.WithoutRuns), medianWall(res.WithRuns)
	res.Ratio = res.With.Seconds() / res.Without.Seconds()
	res.Pass = res.Ratio <= goalRatio
	res.ReviewsTotal = b.reviews()
	return res, nil
}

func medianWall(runs []phaseResult) time.Duration {
	w := make([]time.Duration, len(runs))
	for i, r := range runs {
		w[i] = r.Wall
	}
	slices.Sort(w)
	return w[len(w)/2]
}

func (r *results) print() {
	fmt.Printf("== API-server benchmark: %d VolumeSnapshots + %d VolumeSnapshotContents per phase, %d workers, %d rounds (medians), GOMAXPROCS %d\n",
		r.Objects, r.Objects, r.Workers, r.Rounds, runtime.GOMAXPROCS(0))
	rate := func(d time.Duration) float64 { return float64(2*r.Objects) / d.Seconds() }
	fmt.Printf("  without webhooks: %7.2f s  %7.0f objects/s  (baseline; runs %s)\n", r.Without.Seconds(), rate(r.Without), walls(r.WithoutRuns))
	fmt.Printf("  with webhooks   : %7.2f s  %7.0f objects/s  (runs %s)\n", r.With.Seconds(), rate(r.With), walls(r.WithRuns))
	verdict := "MISS"
	if r.Pass {
		verdict = "PASS"
	}
	fmt.Printf("  ratio with/without %.2f (goal <= %.2f) %s\n", r.Ratio, r.Goal, verdict)
	var warnings int64
	for _, p := range r.WithRuns {
		warnings += p.Warnings
	}
	fmt.Printf("  reviews served %d; warnings returned with webhooks %d\n", r.ReviewsTotal, warnings)
}

func walls(runs []phaseResult) string {
	s := ""
	for i, r := range runs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", r.Wall.Seconds())
	}
	return s
}
