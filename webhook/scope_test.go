package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/snaprestore/snaprestore/test/testenv"
)

func TestMatchContentDrivers(t *testing.T) {
	t.Parallel()
	got := MatchContentDrivers([]string{"driver.longhorn.io", "io.rancher.longhorn"})
	want := "(has(object.spec.driver) && object.spec.driver in ['driver.longhorn.io', 'io.rancher.longhorn']) || " +
		"(has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('snaprestore.io/')))"
	if got != want {
		t.Errorf("MatchContentDrivers:\n got %s\nwant %s", got, want)
	}
}

func TestMatchClassDrivers(t *testing.T) {
	t.Parallel()
	got := MatchClassDrivers([]string{"driver.longhorn.io"})
	want := "object.driver in ['driver.longhorn.io'] || " +
		"(has(object.metadata.annotations) && 'snapshot.storage.kubernetes.io/is-default-class' in object.metadata.annotations)"
	if got != want {
		t.Errorf("MatchClassDrivers:\n got %s\nwant %s", got, want)
	}
}

// crdWithSpec is an unstructured CustomResourceDefinition serving version name with
// the given spec schema.
func crdWithSpec(name string, spec map[string]any) map[string]any {
	return map[string]any{"spec": map[string]any{"versions": []any{map[string]any{
		"name": name,
		"schema": map[string]any{"openAPIV3Schema": map[string]any{
			"properties": map[string]any{"spec": spec},
		}},
	}}}}
}

func TestSnapshotCRDRules(t *testing.T) {
	t.Parallel()
	rule := []any{map[string]any{"rule": "has(self.a) != has(self.b)", "message": "exactly one"}}
	for _, c := range []struct {
		name string
		crd  map[string]any
		want bool
	}{
		{"v8: rule on spec.source", crdWithSpec("v1", map[string]any{"properties": map[string]any{
			"source": map[string]any{"x-kubernetes-validations": rule}}}), true},
		{"rule on spec itself", crdWithSpec("v1", map[string]any{"x-kubernetes-validations": rule}), true},
		{"v6/v7: no rules", crdWithSpec("v1", map[string]any{"properties": map[string]any{
			"source": map[string]any{"type": "object"}}}), false},
		{"empty rule list", crdWithSpec("v1", map[string]any{"x-kubernetes-validations": []any{}}), false},
		{"rules only on another version", crdWithSpec("v1beta1", map[string]any{"x-kubernetes-validations": rule}), false},
		{"no versions", map[string]any{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := snapshotCRDRules(c.crd); got != c.want {
				t.Errorf("snapshotCRDRules = %v, want %v", got, c.want)
			}
		})
	}
}

func TestScopeMessage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		rules bool
		err   error
		want  string // a phrase the line must contain
	}{
		{"v8", true, nil, "webhook.matchAllSnapshots=false, the default"},
		{"v6/v7", false, nil, "install the chart with webhook.matchAllSnapshots=true"},
		{"unreadable", false, errors.New("forbidden"), "Could not read CustomResourceDefinition volumesnapshots.snapshot.storage.k8s.io"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := scopeMessage(c.rules, c.err); !strings.Contains(got, c.want) {
				t.Errorf("scopeMessage = %q, want it to contain %q", got, c.want)
			}
		})
	}
}

// TestScopeLogReadsInstalledCRD runs the start-up line against a real API server with
// the v8 snapshot CRDs the project ships with (they carry CEL rules).
func TestScopeLogReadsInstalledCRD(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, testenv.Options{SnapshotCRDs: true})
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	var lines []string
	log := funcr.New(func(prefix, args string) { lines = append(lines, prefix+" "+args) }, funcr.Options{})
	ctx := logf.IntoContext(context.Background(), log)
	if err := (scopeLog{reader: c}).Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	want := []string{`scope "level"=0 "msg"="` + scopeMessage(true, nil) + `" "crd"="` + SnapshotCRDName + `" "celRules"=true`}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("start-up lines (-want +got):\n%s", diff)
	}
}
