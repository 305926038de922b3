package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
)

// A scenario is a directory testdata/<name>/ of steps run in file-name order:
//   - NN-<what>.yaml is applied with `kubectl apply -f NN-<what>.yaml`, first with
//     --dry-run=server (same verdict and warnings, nothing stored) and then for real;
//   - NN-<what>.kubectl holds the arguments of any other kubectl command (one line,
//     split at spaces), e.g. `get volumesnapshotcontents -o name`, or
//     `apply --as=alice -f manifests/x.yaml` for a manifest applied as another user
//     (manifests/ holds such files; they are not steps);
//
// and each step's expected result is NN-<what>.want, or NN-<what>.cel.want and
// NN-<what>.nocel.want where the API server's CEL rules answer before the webhook.
// The dry run's expected result is derived from it: the same verdict and warnings, with
// kubectl's "(server dry run)" marks.
// The namespace <name> exists before the first step. See testdata/README.md.
type scenario struct {
	name, dir string
	steps     []string // file names
}

var stepName = regexp.MustCompile(`^[0-9]{2}-[a-z0-9-]+\.(yaml|kubectl)$`)

func loadScenarios(t *testing.T) []scenario {
	t.Helper()
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatalf("read scenarios: %v", err)
	}
	var all []scenario
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		sc := scenario{name: d.Name(), dir: filepath.Join("testdata", d.Name())}
		files, err := os.ReadDir(sc.dir)
		if err != nil {
			t.Fatalf("read scenario %s: %v", sc.dir, err)
		}
		for _, f := range files {
			switch {
			case f.IsDir() && f.Name() == "manifests": // files the .kubectl steps name
			case stepName.MatchString(f.Name()):
				sc.steps = append(sc.steps, f.Name())
			case strings.HasSuffix(f.Name(), ".dryrun.want"):
				t.Fatalf("%s/%s: a dry run must print what the real apply prints; its expected output is derived from the step's .want", sc.dir, f.Name())
			case strings.HasSuffix(f.Name(), ".want"), f.Name() == "README.md":
			default:
				t.Fatalf("%s/%s: not a step (NN-<what>.yaml or NN-<what>.kubectl) or an expected output (.want)", sc.dir, f.Name())
			}
		}
		if len(sc.steps) == 0 {
			t.Fatalf("scenario %s has no steps", sc.dir)
		}
		all = append(all, sc)
	}
	if len(all) == 0 {
		t.Fatalf("no scenarios in testdata/")
	}
	return all
}

// TestScenarios runs every scenario on both clusters. Scenarios run one after the
// other on a cluster (the dry-run check compares the whole cluster's snapshot
// objects before and after); the two clusters run side by side.
func TestScenarios(t *testing.T) {
	scenarios := loadScenarios(t)
	got := &outputs{m: map[string]map[string]string{}}
	t.Run("run", func(t *testing.T) {
		for _, v := range variants {
			t.Run(v.name, func(t *testing.T) {
				t.Parallel()
				for _, sc := range scenarios {
					t.Run(sc.name, func(t *testing.T) { runScenario(t, v, sc, got) })
				}
			})
		}
	})
	if *update {
		got.write(t, scenarios)
	}
}

func runScenario(t *testing.T, v *variant, sc scenario, got *outputs) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sc.name}}
	if err := v.c.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", sc.name, err)
	}
	for _, step := range sc.steps {
		base := strings.TrimSuffix(strings.TrimSuffix(step, ".yaml"), ".kubectl")
		want, wantErr := readExpected(sc.dir, base, v.name)
		if wantErr != nil && !*update {
			t.Fatalf("%s/%s: %v", sc.dir, step, wantErr)
		}
		var args []string
		if strings.HasSuffix(step, ".yaml") {
			args = []string{"apply", "-f", step}
			dryRun(t, v.c, sc, step, want, wantErr == nil)
		} else {
			b, err := os.ReadFile(filepath.Join(sc.dir, step))
			if err != nil {
				t.Fatal(err)
			}
			args = strings.Fields(string(b))
		}
		r, err := v.c.Kubectl(ctx, sc.dir, "", args...)
		if err != nil {
			t.Fatalf("%s/%s: %v", sc.dir, step, err)
		}
		got.put(v.name, filepath.Join(sc.dir, base), format(r))
		if wantErr == nil && format(r) != want {
			t.Errorf("%s/%s on the %s cluster: kubectl %s\ngot:\n%s\nwant (%s):\n%s", sc.dir, step, v.name, strings.Join(args, " "),
				format(r), expectedFile(sc.dir, base, v.name), want)
		}
	}
}

// dryRun applies step with --dry-run=server: the verdict and warnings are those
// of the real apply, kubectl marks each object "(server dry run)", and no snapshot
// object in the whole cluster and no PVC of the scenario changes (the mutating
// webhook's side effects are skipped too).
func dryRun(t *testing.T, c *cluster.Cluster, sc scenario, step, want string, haveWant bool) {
	t.Helper()
	ctx := context.Background()
	before := clusterState(t, c, sc.name)
	r, err := c.Kubectl(ctx, sc.dir, "", "apply", "--dry-run=server", "-f", step)
	if err != nil {
		t.Fatalf("%s/%s: %v", sc.dir, step, err)
	}
	if haveWant {
		if wantDry := dryRunOutput(want); format(r) != wantDry {
			t.Errorf("%s/%s: kubectl apply --dry-run=server\ngot:\n%s\nwant:\n%s", sc.dir, step, format(r), wantDry)
		}
	}
	if after := clusterState(t, c, sc.name); !slices.Equal(before, after) {
		t.Errorf("%s/%s: kubectl apply --dry-run=server changed the cluster:\nbefore %q\nafter  %q", sc.dir, step, before, after)
	}
}

// clusterState lists, with kubectl, every snapshot object in the cluster and the
// scenario's PVCs with their resourceVersions. PVCs of other scenarios are left
// out: the webhook's background verifier annotates restore PVCs at any time.
func clusterState(t *testing.T, c *cluster.Cluster, namespace string) []string {
	t.Helper()
	columns := "custom-columns=KIND:.kind,NAMESPACE:.metadata.namespace,NAME:.metadata.name,RV:.metadata.resourceVersion"
	var state []string
	for _, args := range [][]string{
		{"get", "volumesnapshots,volumesnapshotcontents,volumesnapshotclasses", "-A", "--no-headers", "-o", columns},
		{"get", "persistentvolumeclaims", "-n", namespace, "--no-headers", "-o", columns},
	} {
		r, err := c.Kubectl(context.Background(), ".", "", args...)
		if err != nil || r.Exit != 0 {
			t.Fatalf("kubectl %s: %v %s", strings.Join(args, " "), err, r.Stderr)
		}
		state = append(state, strings.Split(strings.TrimSpace(r.Stdout), "\n")...)
	}
	return state
}

// dryRunOutput is what kubectl apply --dry-run=server prints where the real apply
// prints want: each object line gains " (server dry run)".
func dryRunOutput(want string) string {
	exit, stdout, stderr := splitOutput(want)
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if l != "" {
			l += " (server dry run)"
		}
		lines = append(lines, l)
	}
	out := strings.Join(lines, "\n")
	if stdout != "" {
		out += "\n"
	}
	return joinOutput(exit, out, stderr)
}

// The expected-output file format:
//
//	exit <status>
//	--- stdout
//	<stdout, verbatim>
//	--- stderr
//	<stderr, verbatim>
func format(r cluster.Result) string { return joinOutput(r.Exit, r.Stdout, r.Stderr) }

func joinOutput(exit int, stdout, stderr string) string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", exit, stdout, stderr)
}

func splitOutput(s string) (exit int, stdout, stderr string) {
	head, rest, _ := strings.Cut(s, "\n--- stdout\n")
	exit, _ = strconv.Atoi(strings.TrimPrefix(head, "exit "))
	stdout, stderr, _ = strings.Cut(rest, "--- stderr\n")
	return exit, stdout, stderr
}

// expectedFile is the .want file that applies to variant: NN-x.<variant>.want when
// it exists, else NN-x.want.
func expectedFile(dir, base, variant string) string {
	if p := filepath.Join(dir, base+"."+variant+".want"); fileExists(p) {
		return p
	}
	return filepath.Join(dir, base+".want")
}

func readExpected(dir, base, variant string) (string, error) {
	p := expectedFile(dir, base, variant)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("no expected output: %w (go test -update writes it from kubectl's output)", err)
	}
	if !strings.HasPrefix(string(b), "exit ") || !strings.Contains(string(b), "\n--- stdout\n") || !strings.Contains(string(b), "--- stderr\n") {
		return "", fmt.Errorf("%s: expected `exit N`, `--- stdout` and `--- stderr` sections", p)
	}
	return string(b), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// outputs collects what kubectl printed, per variant and step, for -update.
type outputs struct {
	mu sync.Mutex
	m  map[string]map[string]string // step base path -> variant -> output
}

func (o *outputs) put(variant, base, out string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m[base] == nil {
		o.m[base] = map[string]string{}
	}
	o.m[base][variant] = out
}

// write stores one NN-x.want where both clusters printed the same, and
// NN-x.cel.want and NN-x.nocel.want where they differ.
func (o *outputs) write(t *testing.T, scenarios []scenario) {
	for base, byVariant := range o.m {
		cel, okCEL := byVariant["cel"]
		nocel, okNoCEL := byVariant["nocel"]
		if !okCEL || !okNoCEL {
			t.Errorf("update %s: it did not run on both clusters; not written", base)
			continue
		}
		for _, suffix := range []string{".want", ".cel.want", ".nocel.want"} {
			os.Remove(base + suffix)
		}
		files := map[string]string{".want": cel}
		if cel != nocel {
			files = map[string]string{".cel.want": cel, ".nocel.want": nocel}
		}
		for suffix, content := range files {
			if err := os.WriteFile(base+suffix, []byte(content), 0o644); err != nil {
				t.Errorf("update %s: %v", base+suffix, err)
			}
		}
	}
	t.Logf("updated the expected outputs of %d scenarios; review them with git diff", len(scenarios))
}
