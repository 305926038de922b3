package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// EnvTimeline, when set, makes PopulationRound log each round's timeline:
// every change of a PVC, PV or pod in the cluster, in ms after the user PVC's
// creation, with what changed (phase, node, claimRef, container state). It
// says where a population's overhead goes (docs/bench.md quotes one).
const EnvTimeline = "SNAPRESTORE_BENCH_TIMELINE"

// timeline records the watch events of PVCs, PVs and pods while it runs.
type timeline struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	events []timelineEvent
	last   map[string]string // object → its last summary, to log changes only
}

type timelineEvent struct {
	at   time.Time
	what string
}

// startTimeline watches PVCs, PVs and pods cluster-wide until stop.
func (c *Cluster) startTimeline(ctx context.Context) (*timeline, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &timeline{cancel: cancel, last: map[string]string{}}
	for _, watchAll := range []func(context.Context, metav1.ListOptions) (watch.Interface, error){
		cs.CoreV1().PersistentVolumeClaims("").Watch,
		cs.CoreV1().PersistentVolumes().Watch,
		cs.CoreV1().Pods("").Watch,
	} {
		w, err := watchAll(ctx, metav1.ListOptions{})
		if err != nil {
			cancel()
			t.wg.Wait()
			return nil, fmt.Errorf("timeline watch: %w", err)
		}
		t.wg.Go(func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					t.record(ev)
				}
			}
		})
	}
	return t, nil
}

func (t *timeline) record(ev watch.Event) {
	now := time.Now()
	var key, summary string
	switch o := ev.Object.(type) {
	case *corev1.PersistentVolumeClaim:
		key = "pvc " + o.Namespace + "/" + o.Name
		summary = fmt.Sprintf("%s volume=%s finalizers=%d", o.Status.Phase, o.Spec.VolumeName, len(o.Finalizers))
	case *corev1.PersistentVolume:
		key = "pv " + o.Name
		claim := ""
		if r := o.Spec.ClaimRef; r != nil {
			claim = r.Namespace + "/" + r.Name
		}
		summary = fmt.Sprintf("%s claim=%s", o.Status.Phase, claim)
	case *corev1.Pod:
		key = "pod " + o.Namespace + "/" + o.Name
		var states []string
		for _, s := range o.Status.ContainerStatuses {
			switch {
			case s.State.Running != nil:
				states = append(states, "running")
			case s.State.Terminated != nil:
				states = append(states, fmt.Sprintf("exited %d", s.State.Terminated.ExitCode))
			case s.State.Waiting != nil:
				states = append(states, "waiting "+s.State.Waiting.Reason)
			}
		}
		summary = fmt.Sprintf("%s node=%s containers=[%s]", o.Status.Phase, o.Spec.NodeName, strings.Join(states, ","))
	default:
		return
	}
	if ev.Type == watch.Deleted {
		summary = "deleted"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last[key] == summary {
		return
	}
	t.last[key] = summary
	t.events = append(t.events, timelineEvent{at: now, what: key + ": " + summary})
}

// stop ends the watches and returns the timeline, one change per line, in
// ms after the first event of origin ("pvc ns/name").
func (t *timeline) stop(origin string) string {
	t.cancel()
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	sort.SliceStable(t.events, func(i, j int) bool { return t.events[i].at.Before(t.events[j].at) })
	var zero time.Time
	for _, e := range t.events {
		if strings.HasPrefix(e.what, origin+": ") {
			zero = e.at
			break
		}
	}
	var b strings.Builder
	if zero.IsZero() {
		fmt.Fprintf(&b, "(%s not seen: times after the first event)\n", origin)
		if len(t.events) > 0 {
			zero = t.events[0].at
		}
	}
	for _, e := range t.events {
		fmt.Fprintf(&b, "%+7.1f ms  %s\n", float64(e.at.Sub(zero).Microseconds())/1000, e.what)
	}
	return b.String()
}
