package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/snaprestore/snaprestore/test/bench/admission/cluster"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// startTwin starts the baseline of -twin: a second etcd and kube-apiserver with the
// snapshot CRDs, started as the measured one is but never given webhook
// configurations, prepared like b and attached to it. On one shared machine the two
// see the same load at the same moment, which a baseline measured before or after
// does not. The caller calls stop.
func startTwin(ctx context.Context, b *bench, o options) (stop func() error, err error) {
	te, cfg, err := testenv.StartEnv(testenv.Options{Assets: o.assets, SnapshotCRDs: true})
	if err != nil {
		return nil, fmt.Errorf("twin control plane: %w", err)
	}
	cfg.QPS, cfg.Burst = -1, 0 // as the measured one's: the benchmark is the load
	twin, err := newBench(&cluster.Env{Config: cfg})
	if err == nil {
		twin.mix, twin.otherOnly = b.mix, b.otherOnly
		err = twin.prepare(ctx)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("twin control plane: %w", err), te.Stop())
	}
	b.twin = twin
	return te.Stop, nil
}
