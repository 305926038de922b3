package populator

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/test/nodeagent"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// controllerNS holds the prime PVCs and populator pods.
const controllerNS = "snaprestore-system"

// The suite's cluster and the facts the tests check against.
var (
	c     *cluster.Cluster
	agent *nodeagent.Cluster
	// damagedStore is a copy of the lz4-chain fixture with every block object
	// garbled, named by a Secret (spec.backupstoreSecretRef).
	damagedStore string
	// bigSHA is the sha256 of vol-big/backup-big, 512 MiB of random data
	// backed up at set-up: long enough to interrupt.
	bigSHA string
	// cases maps bak:// handles to the sha256 of their image (fixture CASES).
	cases map[string]string
	// binary is the snaprestore built for the suite; store the backupstore URL
	// the webhook runs with.
	binary, store string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "snaprestore-populator-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "populator e2e:", err)
		return 1
	}
	stop, err := setup(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "populator e2e: set-up failed:", err)
		stop()
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "populator e2e: webhook log (%s) ends:\n%s\nartifacts in %s\n", c.WebhookLog, c.LogTail(), tmp)
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
				fmt.Fprintln(os.Stderr, "populator e2e:", err)
			}
		}
	}
	assets, err := testenv.Assets("", "kubectl", "kube-controller-manager", "kube-scheduler")
	if err != nil {
		return stop, err
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return stop, fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(tmp, "snaprestore")
	build := exec.Command("go", "build", "-o", bin, "./cmd/snaprestore")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return stop, fmt.Errorf("go build ./cmd/snaprestore: %w\n%s", err, out)
	}
	binary = bin
	store, err = cluster.FixtureBackupstore(root, filepath.Join(tmp, "backupstore"))
	if err != nil {
		return stop, err
	}
	if cases, err = readCases(filepath.Join(root, "restore", "testdata", "longhorn-backupstore", "CASES")); err != nil {
		return stop, err
	}
	if bigSHA, err = bigBackup(bin, store, filepath.Join(tmp, "big.img")); err != nil {
		return stop, err
	}
	if damagedStore, err = damaged(root, filepath.Join(tmp, "damaged")); err != nil {
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
	agent, err = nodeagent.Start(context.Background(), c.Config, nodeagent.Options{
		Dir: filepath.Join(tmp, "agent"), Assets: assets,
		Logger: funcr.New(func(prefix, args string) { fmt.Fprintln(agentLog, prefix, args) }, funcr.Options{Verbosity: 1}),
		Images: map[string]string{"snaprestore:e2e": bin, "busybox": "/bin/sh"},
		// The populator pod reports progress on itself through the API.
		Env: []string{"KUBECONFIG=" + c.Kubeconfig},
	})
	if agent != nil {
		stops = append(stops, agent.Stop)
	}
	return stop, err
}

// readCases reads CASES: "<folder> <bak://handle> <sha256>" per line.
func readCases(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			m[f[1]] = f[2]
		}
	}
	return m, nil
}

// bigBackup writes 512 MiB of random data and backs it up as vol-big/backup-big.
func bigBackup(bin, store, img string) (string, error) {
	f, err := os.Create(img)
	if err != nil {
		return "", err
	}
	if _, err := io.CopyN(f, rand.Reader, 512<<20); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	out, err := exec.Command(bin, "backup", "--backupstore", store, "--volume", "vol-big", "--from", img, "--backup", "backup-big").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("snaprestore backup: %w\n%s", err, out)
	}
	sum, err := exec.Command("sha256sum", img).Output()
	if err != nil {
		return "", err
	}
	return strings.Fields(string(sum))[0], os.Remove(img)
}

// damaged copies the lz4-chain fixture and garbles every block object.
func damaged(root, dst string) (string, error) {
	src := filepath.Join(root, "restore", "testdata", "longhorn-backupstore", "lz4-chain")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy fixture: %w\n%s", err, out)
	}
	err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".blk") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		copy(b[len(b)/2:], bytes.Repeat([]byte{0x5a}, 64))
		return os.WriteFile(p, b, 0o644)
	})
	return "file://" + dst, err
}
