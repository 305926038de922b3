package offline

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// snapshotterModule is the directory of the external-snapshotter client module in the
// module cache, which ships the CRDs' CEL test manifests.
func snapshotterModule(t *testing.T) string {
	t.Helper()
	dir, err := testenv.ModuleDir("", testenv.SnapshotModule)
	if err != nil {
		t.Fatalf("locate the CEL test manifests: %v", err)
	}
	return dir
}

// TestCELConformance runs every VolumeSnapshot and VolumeSnapshotContent case of
// external-snapshotter's hack/cel-tests through validate, with the semantics of its
// hack/run-cel-tests.sh: each *.yaml is created (denied iff *.yaml.err exists, and the
// output must contain its text); each *.pre.yaml → *.post.yaml pair is an update (denied
// iff *.post.yaml.tx_err exists, same check).
func TestCELConformance(t *testing.T) {
	t.Parallel()
	root := filepath.Join(snapshotterModule(t), "hack", "cel-tests")
	cases := 0
	for _, kind := range []string{"volumesnapshot", "volumesnapshotcontent"} {
		files, err := filepath.Glob(filepath.Join(root, kind, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no cel-tests for %s in %s: %v", kind, root, err)
		}
		for _, f := range files {
			cases++
			t.Run(kind+"/"+filepath.Base(f), func(t *testing.T) {
				t.Parallel()
				checkCELCase(t, Options{Files: []string{f}}, f+".err")
			})
			if pre, ok := strings.CutSuffix(f, ".pre.yaml"); ok {
				post := pre + ".post.yaml"
				cases++
				t.Run(kind+"/"+filepath.Base(pre)+".pre->post", func(t *testing.T) {
					t.Parallel()
					checkCELCase(t, Options{Files: []string{post}, Old: f}, post+".tx_err")
				})
			}
		}
	}
	if cases < 40 {
		t.Errorf("ran %d cases; the module ships more (layout changed?)", cases)
	}
}

func checkCELCase(t *testing.T, o Options, errFile string) {
	t.Helper()
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var out strings.Builder
	if err := rep.Write(&out); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(errFile)
	switch {
	case os.IsNotExist(err):
		if rep.Denied() {
			t.Errorf("denied, CEL allows:\n%s", out.String())
		}
		return
	case err != nil:
		t.Fatal(err)
	}
	if !rep.Denied() {
		t.Errorf("allowed, CEL denies with %q:\n%s", strings.TrimSpace(string(want)), out.String())
	}
	if msg := strings.TrimSpace(string(want)); !celMessage(msg).MatchString(out.String()) {
		t.Errorf("output lacks the CEL message %q:\n%s", msg, out.String())
	}
	for _, res := range rep.Results {
		if res.Verdict == Skipped {
			t.Errorf("%s %s was skipped", res.Kind, res.Name)
		}
	}
}

// oldValueRendering is how API servers before the validation rework printed a CEL failure:
// the field's type stood in for its value (`Invalid value: "string": ...`). Current API
// servers print the value of a string field and nothing for an object
// (`Invalid value: "v2": ...`, `Invalid value: ...`), and so do the rules (the webhook's
// envtest compares them with a real API server). One expected text in hack/cel-tests still
// has the old rendering.
var oldValueRendering = regexp.MustCompile(`^Invalid value: "(?:string|object)": (.*)$`)

// celMessage is the pattern of an expected CEL text in either rendering.
func celMessage(want string) *regexp.Regexp {
	if m := oldValueRendering.FindStringSubmatch(want); m != nil {
		return regexp.MustCompile(`Invalid value: (?:"[^"]*": )?` + regexp.QuoteMeta(m[1]))
	}
	return regexp.MustCompile(regexp.QuoteMeta(want))
}
