package chart

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregv1 "k8s.io/api/admissionregistration/v1"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
)

// hookShape is what the chart's webhooks and the end-to-end configurations
// (test/e2e/cluster) must agree on: which objects reach which path.
type hookShape struct {
	Name, Path string
	Rules      []admissionregv1.Rule
	Ops        [][]admissionregv1.OperationType
	Conditions string
}

func shape(name, path string, rules []admissionregv1.RuleWithOperations, conditions []admissionregv1.MatchCondition) hookShape {
	s := hookShape{Name: name, Path: path, Conditions: conditionExpressions(conditions)}
	for _, r := range rules {
		r.Scope = nil // the chart states it, the end-to-end configurations leave the default
		s.Rules = append(s.Rules, r.Rule)
		s.Ops = append(s.Ops, r.Operations)
	}
	return s
}

// TestEndToEndConfigurationsMatchChart: the webhook configurations the end-to-end
// suites register are those of the chart with its default values, so a webhook
// the chart registers (e.g. the BackupSource ones, issue #10) runs end to end too.
func TestEndToEndConfigurationsMatchChart(t *testing.T) {
	t.Parallel()
	r := renderObjects(t, renderCases[0])
	var chart, e2e []hookShape
	for _, h := range r.validating.Webhooks {
		chart = append(chart, shape(h.Name, deref(h.ClientConfig.Service.Path), h.Rules, h.MatchConditions))
	}
	for _, h := range r.mutating.Webhooks {
		chart = append(chart, shape(h.Name, deref(h.ClientConfig.Service.Path), h.Rules, h.MatchConditions))
	}
	url := func(path string) string { return path }
	for _, h := range cluster.ValidatingConfiguration(url, nil, false).Webhooks {
		e2e = append(e2e, shape(h.Name, deref(h.ClientConfig.URL), h.Rules, h.MatchConditions))
	}
	for _, h := range cluster.MutatingConfiguration(url, nil).Webhooks {
		e2e = append(e2e, shape(h.Name, deref(h.ClientConfig.URL), h.Rules, h.MatchConditions))
	}
	if diff := cmp.Diff(chart, e2e); diff != "" {
		t.Errorf("test/e2e/cluster's webhook configurations differ from the chart's (-chart +e2e):\n%s", diff)
	}
}
