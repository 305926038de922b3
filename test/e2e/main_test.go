package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/test/testenv"
)

var update = flag.Bool("update", false, "rewrite the expected kubectl outputs (*.out) of the scenarios from what kubectl printed; review the diff")

// variant is one of the two clusters every scenario runs on.
type variant struct {
	name     string // "cel" or "nocel": also the infix of variant-specific .out files
	stripCEL bool
	args     []string // more flags of snaprestore webhook
	c        *cluster.Cluster
}

// variants are started by TestMain.
// The nocel cluster's webhook also runs with leader election, as a Deployment with
// several replicas does: its GC and verifier start only once it holds the Lease.
var variants = []*variant{{name: "cel"}, {name: "nocel", stripCEL: true, args: []string{"--leader-elect", "--leader-election-namespace", "default"}}}

// moduleRoot is the snaprestore module's directory; binary is the snaprestore
// binary TestMain built; store is the --backupstore URL of the fixture copy.
var moduleRoot, binary, store string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "snaprestore-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	stop, err := setup(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: set-up failed:", err)
		stop()
		return 1
	}
	code := m.Run()
	if code != 0 {
		for _, v := range variants {
			fmt.Fprintf(os.Stderr, "e2e: webhook log of the %s cluster (%s) ends:\n%s\n", v.name, v.c.WebhookLog, v.c.LogTail())
		}
	}
	stop()
	if code == 0 {
		os.RemoveAll(tmp)
	}
	return code
}

// setup builds snaprestore, copies the fixture backupstore and starts both
// clusters. A missing prerequisite is an error: the suite never skips.
func setup(tmp string) (stop func(), err error) {
	var started []*cluster.Cluster
	stop = func() {
		for _, c := range started {
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "e2e:", err)
			}
		}
	}
	assets, err := testenv.Assets("", "kubectl")
	if err != nil {
		return stop, err
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return stop, fmt.Errorf("go env GOMOD: %w", err)
	}
	moduleRoot = filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(tmp, "snaprestore")
	binary = bin
	build := exec.Command("go", "build", "-o", bin, "./cmd/snaprestore")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		return stop, fmt.Errorf("go build ./cmd/snaprestore: %w\n%s", err, out)
	}
	store, err = cluster.FixtureBackupstore(moduleRoot, filepath.Join(tmp, "backupstore"))
	if err != nil {
		return stop, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(variants))
	for i, v := range variants {
		work := filepath.Join(tmp, v.name)
		if err := os.MkdirAll(work, 0o755); err != nil {
			return stop, err
		}
		wg.Go(func() {
			v.c, errs[i] = cluster.Start(context.Background(), cluster.Options{
				Assets: assets, Binary: bin, ModuleDir: moduleRoot, WorkDir: work, StripCEL: v.stripCEL,
				// The BackupSource CRD, for the BackupSource webhooks' scenarios.
				CRDDirs:     []string{filepath.Join(moduleRoot, "charts", "snaprestore", "crds")},
				WebhookArgs: append([]string{"--backupstore", store}, v.args...),
			})
		})
	}
	wg.Wait()
	for _, v := range variants {
		if v.c != nil {
			started = append(started, v.c)
		}
	}
	for i, v := range variants {
		if errs[i] != nil {
			return stop, fmt.Errorf("%s cluster: %w", v.name, errs[i])
		}
	}
	return stop, nil
}
