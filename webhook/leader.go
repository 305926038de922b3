package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// addLeaderWork runs work (each adds leader-only runnables to the manager it is
// given) on mgr itself without --leader-elect, or on the managers of leaderTerms.
func addLeaderWork(mgr manager.Manager, o Options, work []func(manager.Manager) error) error {
	if !o.LeaderElect {
		for _, add := range work {
			if err := add(mgr); err != nil {
				return err
			}
		}
		return nil
	}
	t := &leaderTerms{work: work, retry: o.LeaderElectionRetryPeriod,
		newManager: func() (manager.Manager, error) { return newTermManager(mgr, o) }}
	// The first term's manager is built now, so that a wrong option fails at
	// start instead of after the first campaign.
	var err error
	if t.next, err = t.build(); err != nil {
		return err
	}
	return mgr.Add(t)
}

// leaderTerms campaigns for the Lease and runs the leader-only work (orphan GC,
// verifier, populator, builtin certificate authority) while it holds it, each term
// on a manager of its own that elects a leader. When the leader cannot renew the
// Lease for the renew deadline (an API server outage longer than that),
// controller-runtime's manager stops its leader-only runnables and returns; only
// the term's manager does: the process's manager, with the webhook server, its
// cache, metrics and probes, has no leader election and keeps answering admission.
// leaderTerms then builds a new manager and campaigns again. A manager or a
// controller of controller-runtime cannot be started twice, hence one per term.
type leaderTerms struct {
	work       []func(manager.Manager) error
	newManager func() (manager.Manager, error)
	retry      time.Duration
	next       manager.Manager // the next term's, once built
}

// NeedLeaderElection is false: every replica campaigns.
func (*leaderTerms) NeedLeaderElection() bool { return false }

// Start runs terms until ctx ends; it returns an error only when a term's manager
// cannot be built.
func (t *leaderTerms) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("leader")
	for term := 1; ; term++ {
		m := t.next
		t.next = nil
		if m == nil {
			var err error
			if m, err = t.build(); err != nil {
				return fmt.Errorf("leadership term %d: %w", term, err)
			}
		}
		err := m.Start(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// Typically "leader election lost": the Lease could not be renewed.
		log.Info("Leader-only work stopped; admission keeps serving, campaigning again", "term", term, "reason", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(t.retry):
		}
	}
}

func (t *leaderTerms) build() (manager.Manager, error) {
	m, err := t.newManager()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, add := range t.work {
		errs = append(errs, add(m))
	}
	return m, errors.Join(errs...)
}

// newTermManager is a manager for one leadership term: mgr's configuration and
// scheme, its own cache, the Lease and its times from o, no webhook server,
// metrics or probes of its own (mgr serves those), and controller names that may
// repeat those of the previous terms.
func newTermManager(mgr manager.Manager, o Options) (manager.Manager, error) {
	m, err := ctrl.NewManager(mgr.GetConfig(), ctrl.Options{
		Scheme:                  mgr.GetScheme(),
		Cache:                   CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          true,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		LeaseDuration:           &o.LeaderElectionLeaseDuration,
		RenewDeadline:           &o.LeaderElectionRenewDeadline,
		RetryPeriod:             &o.LeaderElectionRetryPeriod,
		// A stopping leader gives the Lease up, so the long lease duration delays
		// the take-over only after a crash.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("create the leader-only manager: %w", err)
	}
	return m, nil
}
