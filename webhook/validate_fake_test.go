package webhook

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/snaprestore/snaprestore/restore"
)

// factStore is an Objects fake for the rule tables: objects it holds are Found, others
// are Missing, or Unknown when unknown is set (as offline). Lookups are counted so tests
// can assert that ratcheted updates read nothing.
type factStore struct {
	unknown        bool
	contents       map[string]*snapv1.VolumeSnapshotContent
	snapshots      map[string]*snapv1.VolumeSnapshot // by namespace/name
	classes        map[string]*snapv1.VolumeSnapshotClass
	storageClasses map[string]*storagev1.StorageClass
	lookups        *int
}

var _ Objects = factStore{}

func factLookup[T any](s factStore, m map[string]*T, k string) (*T, Presence) {
	if s.lookups != nil {
		*s.lookups++
	}
	if v, ok := m[k]; ok {
		return v, Found
	}
	if s.unknown {
		return nil, Unknown
	}
	return nil, Missing
}

func (s factStore) Content(_ context.Context, name string) (*snapv1.VolumeSnapshotContent, Presence) {
	return factLookup(s, s.contents, name)
}

func (s factStore) Snapshot(_ context.Context, namespace, name string) (*snapv1.VolumeSnapshot, Presence) {
	return factLookup(s, s.snapshots, namespace+"/"+name)
}

func (s factStore) Class(_ context.Context, name string) (*snapv1.VolumeSnapshotClass, Presence) {
	return factLookup(s, s.classes, name)
}

func (s factStore) StorageClass(_ context.Context, name string) (*storagev1.StorageClass, Presence) {
	return factLookup(s, s.storageClasses, name)
}

func (s factStore) DefaultClasses(_ context.Context, driver string) ([]string, bool) {
	if s.lookups != nil {
		*s.lookups++
	}
	var names []string
	for _, c := range s.classes {
		if c.Driver == driver && isDefaultClass(c) {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	return names, !s.unknown
}

// ruleVerdict is what a rule table asserts: every cause as the API server prints it, and
// every warning.
type ruleVerdict struct {
	Causes   []string
	Warnings []string
}

func ruleVerdictOf(errs field.ErrorList, warnings admission.Warnings) ruleVerdict {
	var v ruleVerdict
	for _, e := range errs {
		v.Causes = append(v.Causes, e.Error())
	}
	v.Warnings = append(v.Warnings, warnings...)
	return v
}

// checkRule runs Rules.Validate and compares the ruleVerdict.
func checkRule(t *testing.T, objs Objects, opts HandlerOptions, obj, old runtime.Object, want ruleVerdict) {
	t.Helper()
	errs, warnings, covered := NewRules(objs, opts).Validate(context.Background(), obj, old)
	if !covered {
		t.Fatalf("%T not covered by the rules", obj)
	}
	if diff := cmp.Diff(want, ruleVerdictOf(errs, warnings)); diff != "" {
		t.Errorf("ruleVerdict (-want +got):\n%s", diff)
	}
}

// grammarMessage is the grammar's own "problem; expected form" for a bad handle.
func grammarMessage(t *testing.T, handle string) string {
	t.Helper()
	_, err := restore.ParseHandle(handle)
	he, ok := err.(*restore.HandleError)
	if !ok {
		t.Fatalf("ParseHandle(%q) error = %v, want *restore.HandleError", handle, err)
	}
	return he.Problem + "; expected " + he.Expected
}
