package populator

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/test/nodeagent"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// controllerNS holds the prime PVCs and populator pods.
const controllerNS = "snaprestore-system"

// The benchmark's cluster: binary is the snaprestore built for it, store the
// backupstore URL the webhook runs with.
var (
	c             *cluster.Cluster
	agent         *nodeagent.Cluster
	binary, store string
	// mountFilesystems: Filesystem volumes are fresh filesystems (root).
	mountFilesystems bool
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

// run starts the harness only when a benchmark is asked for (go test -bench):
// the package holds no tests, and `go test ./...` should not pay its set-up.
func run(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "snaprestore-populator-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "populator bench:", err)
		return 1
	}
	stop, err := setup(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "populator bench: set-up failed:", err)
		stop()
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "populator bench: webhook log (%s) ends:\n%s\nartifacts in %s\n", c.WebhookLog, c.LogTail(), tmp)
	}
	stop()
	if code == 0 {
		os.RemoveAll(tmp)
	}
	return code
}

// setup builds snaprestore, prepares the backupstores and starts the cluster
// and the node agent. A missing prerequisite is an error: nothing skips.
func setup(tmp string) (stop func(), err error) {
	var stops []func() error
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			if err := stops[i](); err != nil {
				fmt.Fprintln(os.Stderr, "populator bench:", err)
			}
		}
	}
	assets, err := testenv.Assets("", "kubectl", "kube-controller-manager", "kube-scheduler")
	if err != nil {
		return stop, err
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		return stop, err
	}
	bin, err := testenv.BuildSnaprestore(tmp)
	if err != nil {
		return stop, err
	}
	binary = bin
	store, err = cluster.FixtureBackupstore(root, filepath.Join(tmp, "backupstore"))
	if err != nil {
		return stop, err
	}
	work := filepath.Join(tmp, "cluster")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return stop, err
	}
	c, err = cluster.Start(context.Background(), cluster.Options{
		Assets: assets, Binary: bin, ModuleDir: root, WorkDir: work,
		CRDDirs: []string{filepath.Join(root, "charts", "snaprestore", "crds")},
		WebhookArgs: []string{"--backupstore", store, "--populator", "--populator-namespace", controllerNS,
			"--populator-image", "snaprestore:e2e", "--populator-backoff", "1s", "-v", "1"},
	})
	if c != nil {
		stops = append(stops, c.Stop)
	}
	if err != nil {
		return stop, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNS}}
	if err := c.Client.Create(context.Background(), ns); err != nil {
		return stop, err
	}
	agentLog, err := os.Create(filepath.Join(tmp, "agent.log"))
	if err != nil {
		return stop, err
	}
	stops = append(stops, agentLog.Close)
	// As root, each Filesystem PVC, and each cp -a of the baseline, gets a
	// fresh filesystem, as from a CSI driver (nodeagent.NewFilesystem).
	mountFilesystems = os.Geteuid() == 0
	if !mountFilesystems {
		fmt.Fprintln(os.Stderr, "populator bench: not root: the Filesystem benchmark writes into directories of", tmp, "instead of fresh filesystems, and measures that filesystem's state too")
	}
	logger := funcr.New(func(prefix, args string) { fmt.Fprintln(agentLog, prefix, args) }, funcr.Options{Verbosity: 1})
	// The agent's caches log through controller-runtime's global logger too;
	// unset, it prints a warning with a stack trace into the benchmark's output.
	ctrllog.SetLogger(logger)
	agent, err = nodeagent.Start(context.Background(), c.Config, nodeagent.Options{
		Dir: filepath.Join(tmp, "agent"), Assets: assets, MountFilesystems: mountFilesystems,
		Logger: logger,
		Images: map[string]string{"snaprestore:e2e": bin, "busybox": "/bin/sh"},
		// The populator pod reports progress on itself through the API.
		Env: []string{"KUBECONFIG=" + c.Kubeconfig},
	})
	if agent != nil {
		stops = append(stops, agent.Stop)
	}
	return stop, err
}
