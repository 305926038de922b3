package webhook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// The scope of the validating VolumeSnapshot and VolumeSnapshotContent webhooks (issue
// #13, "Scope the calls"): the API server sends only the objects snaprestore is
// responsible for, so an outage of every replica with failurePolicy Fail cannot stop
// the snapshots of other CSI drivers or dynamic snapshots. The chart
// (charts/snaprestore/templates/webhooks.yaml), the end-to-end configurations
// (test/e2e/cluster) and the API-server benchmark use these definitions; test/chart
// checks the chart against them.
const (
	// AnnotationPrefix starts every annotation snaprestore reads or writes.
	AnnotationPrefix = "snaprestore.io/"
	// MatchSnaprestoreAnnotation is true for an object carrying any snaprestore.io/
	// annotation (e.g. a VolumeSnapshotContent the mutating webhook created, whatever its
	// driver, or a VolumeSnapshot naming a backup).
	MatchSnaprestoreAnnotation = "has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('" + AnnotationPrefix + "'))"
	// MatchSnapshotRestores is the validating VolumeSnapshot webhook's condition: the
	// snapshot names a pre-provisioned content (a restore; the rule that it binds needs a
	// lookup no CRD rule can do) or carries a snaprestore annotation. A dynamic snapshot
	// (persistentVolumeClaimName only) needs nothing the v8 CRD's CEL rules do not check.
	MatchSnapshotRestores = "(has(object.spec.source) && has(object.spec.source.volumeSnapshotContentName)) || (" +
		MatchSnaprestoreAnnotation + ")"
)

// MatchContentDrivers is the validating VolumeSnapshotContent webhook's condition for
// the Longhorn drivers (--longhorn-driver, chart value longhorn.drivers): spec.driver
// is one of them, or the content carries a snaprestore annotation. drivers are DNS
// subdomains (Options.Validate), so they need no quoting inside the CEL string
// literals.
func MatchContentDrivers(drivers []string) string {
	return "(has(object.spec.driver) && object.spec.driver in [" + quoteCEL(drivers) + "]) || (" +
		MatchSnaprestoreAnnotation + ")"
}

// MatchClassDrivers is the validating VolumeSnapshotClass webhook's condition: the
// class is of a Longhorn driver (whose parameters are checked) or is marked its
// driver's default (one default class per driver, for every driver). Another
// driver's ordinary class is admitted without a call.
func MatchClassDrivers(drivers []string) string {
	return "object.driver in [" + quoteCEL(drivers) + "] || " +
		"(has(object.metadata.annotations) && '" + AnnotationDefaultClass + "' in object.metadata.annotations)"
}

func quoteCEL(drivers []string) string {
	quoted := make([]string, len(drivers))
	for i, d := range drivers {
		quoted[i] = "'" + d + "'"
	}
	return strings.Join(quoted, ", ")
}

// SnapshotCRDName is the CustomResourceDefinition whose schema says which scope the
// installed snapshot CRDs call for.
const SnapshotCRDName = "volumesnapshots.snapshot.storage.k8s.io"

// snapshotCRDRules reports whether the served v1 schema of the VolumeSnapshot CRD (an
// unstructured CustomResourceDefinition) carries CEL rules (x-kubernetes-validations)
// under spec: external-snapshotter v8 CRDs do, v6/v7 do not.
func snapshotCRDRules(crd map[string]any) bool {
	versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
	for _, v := range versions {
		m, ok := v.(map[string]any)
		if !ok || m["name"] != "v1" {
			continue
		}
		spec, _, _ := unstructured.NestedMap(m, "schema", "openAPIV3Schema", "properties", "spec")
		return hasValidations(spec)
	}
	return false
}

func hasValidations(node any) bool {
	switch n := node.(type) {
	case map[string]any:
		if rules, ok := n["x-kubernetes-validations"].([]any); ok && len(rules) > 0 {
			return true
		}
		for _, child := range n {
			if hasValidations(child) {
				return true
			}
		}
	case []any:
		for _, child := range n {
			if hasValidations(child) {
				return true
			}
		}
	}
	return false
}

// scopeMessage is the start-up line about the installed CRDs: which scope of the
// snapshot webhooks they call for and the chart value that selects it.
func scopeMessage(crdRules bool, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("Could not read CustomResourceDefinition %s to tell whether its CEL rules are installed (%v); "+
			"with external-snapshotter v6/v7 CRDs install the chart with webhook.matchAllSnapshots=true", SnapshotCRDName, err)
	case crdRules:
		return "The VolumeSnapshot CRD carries CEL rules (external-snapshotter v8 or later): " +
			"the scoped snapshot webhooks suffice (chart value webhook.matchAllSnapshots=false, the default)"
	default:
		return "The VolumeSnapshot CRD has no CEL rules (external-snapshotter v6/v7): install the chart with " +
			"webhook.matchAllSnapshots=true so that every VolumeSnapshot and VolumeSnapshotContent is checked"
	}
}

// scopeLog logs scopeMessage once when the manager starts, on every replica (not only
// the leader). It reads the CRD with the API reader: no informer is kept for it.
type scopeLog struct{ reader client.Reader }

// NeedLeaderElection is false: every replica says which mode its cluster needs.
func (scopeLog) NeedLeaderElection() bool { return false }

// Start reads the CRD with a bounded wait, logs and returns; it never fails the process.
func (s scopeLog) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rules, err := readSnapshotCRDRules(ctx, s.reader)
	logScope(logf.FromContext(ctx).WithName("scope"), rules, err)
	return nil
}

func readSnapshotCRDRules(ctx context.Context, r client.Reader) (bool, error) {
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := r.Get(ctx, client.ObjectKey{Name: SnapshotCRDName}, crd); err != nil {
		return false, fmt.Errorf("get: %w", err)
	}
	return snapshotCRDRules(crd.Object), nil
}

func logScope(log logr.Logger, rules bool, err error) {
	log.Info(scopeMessage(rules, err), "crd", SnapshotCRDName, "celRules", rules && err == nil)
}

// addScopeLog adds the start-up scope line to mgr.
func addScopeLog(mgr manager.Manager) error {
	return mgr.Add(scopeLog{reader: mgr.GetAPIReader()})
}
