// Command apiserver-bench measures what snaprestore's webhooks cost a user of
// the API server (make bench, issue #3): it starts a real kube-apiserver
// (envtest) with the snapshot CRDs and the real handlers served in-process
// over HTTPS, then creates VolumeSnapshotContents (bak:// handles) and their
// VolumeSnapshots through the API server with a typed client, alternately
// without and with the Validating/MutatingWebhookConfigurations registered
// (and, for reference, with the same configurations served by a no-op
// handler), every phase creating the same objects into the same cleared state.
// Each round runs one phase per mode back to back; it reports the ratio of each
// round's phases, summarized over the rounds (median, quartiles, extremes),
// which a shared machine's drifting load disturbs far less than a ratio of
// medians taken over the whole run. The goal is printed as PASS/MISS for information; the exit
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
	"time"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/test/bench/measure"
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
	// twin starts a second, identical control plane that never has webhook
	// configurations, and creates every object on both, back to back.
	twin bool
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
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of one phase per mode, alternating without, with[, noop] | [noop,] with, without, ... (ratios are taken per round; their median and spread are reported)")
	flag.IntVar(&o.warmup, "warmup", 200, "objects created, unmeasured, with the webhooks registered before the first phase")
	flag.BoolVar(&o.noop, "noop", true, "also measure the configurations served by a no-op handler (what any webhook costs)")
	flag.BoolVar(&o.http1, "http1", false, "experiment: the webhook server offers only HTTP/1.1 (ALPN), not HTTP/2")
	flag.BoolVar(&o.mix, "mix", false, "half the object pairs belong to another CSI driver (not sent to the webhooks); their latency is reported apart")
	flag.BoolVar(&o.otherOnly, "other-only", false, "every object pair belongs to another CSI driver: no review may be sent")
	flag.BoolVar(&o.twin, "twin", false, "also create every object, back to back, on a second control plane that never has webhook configurations; the other driver's latency is reported against it (with -mix or -other-only)")
	flag.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	flag.Parse()
	if o.objects < 1 || o.workers < 1 || o.rounds < 1 {
		fmt.Fprintf(os.Stderr, "apiserver-bench: -objects %d, -workers %d, -rounds %d: expected at least 1 each\n", o.objects, o.workers, o.rounds)
		os.Exit(2)
	}
	if o.twin && !o.mix && !o.otherOnly {
		fmt.Fprintln(os.Stderr, "apiserver-bench: -twin measures another driver's objects; expected -mix or -other-only with it")
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
	LoadStart  string        `json:"loadAverageStart"` // /proc/loadavg when the phases start
	LoadEnd    string        `json:"loadAverageEnd"`
	Without    time.Duration `json:"withoutNanos"` // medians
	With       time.Duration `json:"withNanos"`
	Noop       time.Duration `json:"noopNanos,omitempty"`
	// Ratio is WallRatio's median; the ratios below are taken per round (the
	// phases of one round run back to back), then summarized.
	Ratio     float64        `json:"ratioWithToWithout"`
	WallRatio measure.Spread `json:"wallRatioWithToWithout"`
	NoopRatio measure.Spread `json:"wallRatioNoopToWithout,omitzero"`
	CPURatio  measure.Spread `json:"cpuRatioWithToWithout"` // CPU time of the whole system under test
	// APIServerCPURatio is kube-apiserver's CPU time alone, with / without.
	APIServerCPURatio measure.Spread `json:"apiserverCPURatioWithToWithout"`
	Mix               bool           `json:"mix"`
	OtherOnly         bool           `json:"otherOnly"`
	// OtherRatio is the median create latency of the other driver's objects, with
	// / without, per round (-mix, -other-only); OtherMeanRatio the same of the mean.
	OtherRatio     measure.Spread `json:"ratioOtherDriverWithToWithout,omitzero"`
	OtherMeanRatio measure.Spread `json:"ratioOtherDriverMeanWithToWithout,omitzero"`
	// Twin: TwinRatio is, per round, the other driver's median create latency
	// on the measured control plane over the twin's in the phase with
	// configurations, divided by the same in the phase without (which corrects
	// for any difference between the two control planes themselves).
	Twin          bool           `json:"twin"`
	TwinRatio     measure.Spread `json:"twinRatioOtherDriver,omitzero"`
	TwinMeanRatio measure.Spread `json:"twinRatioOtherDriverMean,omitzero"`
	// PluginsAdded is, per round, the time kube-apiserver's webhook plugins spent
	// per create with configurations minus without, in µs; PluginsRatio is 1 plus
	// that over the mean create latency of the other driver's objects without
	// (-other-only): the overhead from the API server's own account, where the
	// machine's load weighs on microseconds instead of the whole request.
	PluginsAdded measure.Spread `json:"webhookPluginsAddedMicrosPerCreate"`
	PluginsRatio measure.Spread `json:"webhookPluginsRatioOtherDriver,omitzero"`
	// OtherSent is how many of the other driver's objects the webhook's own
	// metrics counted as reviewed in the phases with configurations (must be 0).
	OtherSent    int64         `json:"otherDriverReviewed"`
	Goal         float64       `json:"goalRatio"`
	Pass         bool          `json:"pass"`
	Runs         []phaseResult `json:"runs"`
	ReviewsTotal int64         `json:"reviewsServed"`
}

// phaseResult is one timed phase.
type phaseResult struct {
	Mode      mode          `json:"mode"`
	Round     int           `json:"round"` // 1, 2, ...
	Wall      time.Duration `json:"wallNanos"`
	Reviews   int64         `json:"reviews"`   // webhook calls during the phase
	Warnings  int64         `json:"warnings"`  // warnings the API server returned
	LiveReads int64         `json:"liveReads"` // the handlers' uncached reads (cache misses)
	// Reviewed is the webhook's own metric (snaprestore_webhook_reviews_total)
	// during the phase, by reviewed kind; the no-op handler is not counted there.
	Reviewed map[string]int64 `json:"reviewedByKind"`
	// CPU is the CPU time of the whole system under test during the phase:
	// etcd, kube-apiserver, and this process (clients, webhook server).
	CPU   time.Duration            `json:"cpuNanos"`
	CPUBy map[string]time.Duration `json:"cpuByProcessNanos"` // "self" is the benchmark process
	// OtherMean and OtherP50 are the mean and median create latency of the other
	// driver's objects (-mix, -other-only).
	OtherMean time.Duration `json:"otherDriverMeanNanos,omitempty"`
	OtherP50  time.Duration `json:"otherDriverMedianNanos,omitempty"`
	// Plugins is the mean time one create spent in kube-apiserver's webhook
	// admission plugins (its own metrics; see pluginTime).
	Plugins time.Duration `json:"webhookPluginsNanosPerCreate"`
	// TwinOtherMean and TwinOtherP50 are the same on the twin (-twin).
	TwinOtherMean time.Duration `json:"twinOtherDriverMeanNanos,omitempty"`
	TwinOtherP50  time.Duration `json:"twinOtherDriverMedianNanos,omitempty"`
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
	if o.twin {
		stop, err := startTwin(ctx, b, o)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	res := &results{Twin: o.twin, Mix: o.mix, OtherOnly: o.otherOnly, HTTP1: o.http1, Objects: o.objects, Workers: o.workers, Rounds: o.rounds, GOMAXPROCS: runtime.GOMAXPROCS(0), Goal: goalRatio}
	// Unmeasured: the webhook connection, the caches and etcd warm up.
	if o.warmup > 0 {
		if err := b.register(ctx, with); err != nil {
			return nil, err
		}
		if _, err := b.phase(ctx, o.warmup, o.workers); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if err := b.clear(ctx); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	res.LoadStart = measure.LoadAverage()
	if res.Runs, err = b.rounds(ctx, o); err != nil {
		return nil, err
	}
	res.LoadEnd = measure.LoadAverage()
	res.summarize(o)
	res.ReviewsTotal = b.reviews()
	return res, nil
}

// rounds runs o.rounds rounds of one phase per mode: without, with[, noop], then
// reversed in the next round ([noop,] with, without), so that each round's phases
// run back to back and a drift of the machine's load within a round hits every
// mode alike. Every phase creates the same objects into the same (cleared) state.
func (b *bench) rounds(ctx context.Context, o options) ([]phaseResult, error) {
	modes := []mode{without, with}
	if o.noop {
		modes = append(modes, noop)
	}
	var runs []phaseResult
	for r := range o.rounds {
		order := slices.Clone(modes)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, m := range order {
			if err := b.register(ctx, m); err != nil {
				return nil, err
			}
			name := fmt.Sprintf("%s %d", m, r+1)
			p, err := b.phase(ctx, o.objects, o.workers)
			if err != nil {
				return nil, fmt.Errorf("phase %s: %w", name, err)
			}
			p.Mode, p.Round = m, r+1
			if err := checkReviews(o, m, name, p); err != nil {
				return nil, err
			}
			if err := b.clear(ctx); err != nil {
				return nil, fmt.Errorf("phase %s: %w", name, err)
			}
			runs = append(runs, p)
		}
	}
	return runs, nil
}

// checkReviews proves a phase ran under the configurations its mode names:
// the reviews the webhooks served fit the Longhorn objects created, and the
// webhook's own metrics counted no review of another driver's object.
func checkReviews(o options, m mode, name string, p phaseResult) error {
	// With configurations every Longhorn object passes the webhooks: one
	// validating review for the content and one for the snapshot (the mutating
	// webhook's matchCondition skips snapshots that name no backup).
	const perPair = 2
	longhorn := longhornPairs(o)
	if m == with && o.otherOnly && p.Reviews != 0 {
		return fmt.Errorf("phase %s: the webhooks served %d reviews for %d object pairs of another driver; expected none", name, p.Reviews, o.objects)
	}
	if m != without && p.Reviews < perPair*longhorn {
		return fmt.Errorf("phase %s: the webhooks served %d reviews for %d Longhorn objects; expected at least %d (are the configurations in effect?)", name, p.Reviews, longhorn, perPair*longhorn)
	}
	if m == without && p.Reviews != 0 {
		return fmt.Errorf("phase %s: the webhooks served %d reviews although their configurations were deleted; expected 0", name, p.Reviews)
	}
	if m == with && o.mix {
		if sent := otherSent(o, p); sent != 0 {
			return fmt.Errorf("phase %s: the webhook's %s counted %v reviews for %d Longhorn and %d other-driver object pairs; expected %d VolumeSnapshotContent and %d VolumeSnapshot reviews (another driver's objects were sent)",
				name, reviewsMetric, p.Reviewed, longhorn, int64(o.objects)-longhorn, longhorn, longhorn)
		}
	}
	return nil
}

// longhornPairs is the number of Longhorn object pairs of a phase.
func longhornPairs(o options) int64 {
	switch {
	case o.otherOnly:
		return 0
	case o.mix:
		return int64(o.objects+1) / 2
	}
	return int64(o.objects)
}

// otherSent is the number of reviews of a phase beyond its Longhorn objects'
// (one VolumeSnapshotContent and one VolumeSnapshot review each), by the
// webhook's own metrics: another driver's objects that were sent.
func otherSent(o options, p phaseResult) int64 {
	l := longhornPairs(o)
	var sent int64
	for kind, n := range p.Reviewed {
		switch kind {
		case "VolumeSnapshotContent", "VolumeSnapshot":
			sent += max(n-l, 0)
		default:
			sent += n
		}
	}
	return sent
}
