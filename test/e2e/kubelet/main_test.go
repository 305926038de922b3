package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/test/testenv"
)

// controllerNS holds the prime PVCs and populator pods; bucket is the S3
// bucket the fixtures are served from, at its root as Longhorn writes them.
const (
	controllerNS = "snaprestore-system"
	bucket       = "backups"
	storeSecret  = "backupstore"
)

var (
	c     *cluster.Cluster
	prov  *provisioner
	cases map[string]string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "snaprestore-kubelet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet e2e:", err)
		return 1
	}
	var stops []func() error
	teardown := func() bool {
		ok := true
		for i := len(stops) - 1; i >= 0; i-- {
			if err := stops[i](); err != nil {
				fmt.Fprintln(os.Stderr, "kubelet e2e: clean-up:", err)
				ok = false
			}
		}
		return ok
	}
	code := 1
	if err := setup(tmp, &stops); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet e2e: set-up failed:", err)
	} else {
		code = m.Run()
	}
	if code != 0 && c != nil {
		fmt.Fprintf(os.Stderr, "kubelet e2e: webhook log ends:\n%s\nlogs in %s\n", c.LogTail(), tmp)
	}
	if !teardown() {
		// Nothing is removed: a mount left behind could expose host files.
		fmt.Fprintln(os.Stderr, "kubelet e2e: clean-up incomplete; see above; left", tmp)
		return 1
	}
	if code == 0 {
		os.RemoveAll(tmp)
	} else {
		keepLogs(tmp)
	}
	return code
}

// keepLogs removes all but the *.log files of a failed run (binaries, images,
// volumes and containerd's snapshots are hundreds of MiB).
func keepLogs(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".log") {
			os.Remove(p)
		}
		return nil
	})
}

// prerequisites: root, and the Debian tools hack/test-deps.sh installs. A
// missing one fails the suite, it never skips.
func prerequisites() error {
	if os.Getuid() != 0 {
		return errors.New("the real-kubelet suite runs as root (containerd, loop devices, cgroups, a bridge); run it as root")
	}
	var missing []string
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "losetup", "ip", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, f := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/bin/busybox"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s; expected containerd, runc, containernetworking-plugins and busybox-static (hack/test-deps.sh installs them)", strings.Join(missing, ", "))
	}
	return nil
}

// setup starts, in order: the S3 backupstore, the control plane with the
// webhook, kube-controller-manager and kube-scheduler, containerd, the kubelet
// and the provisioner. Each start appends its stop to stops first.
func setup(tmp string, stops *[]func() error) error {
	if err := prerequisites(); err != nil {
		return err
	}
	assets, err := testenv.Assets("", "kubectl", "kube-controller-manager", "kube-scheduler", "kubelet")
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(tmp, "snaprestore")
	build := exec.Command("go", "build", "-o", bin, "./cmd/snaprestore")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/snaprestore: %w\n%s", err, out)
	}
	fixtures := filepath.Join(root, "restore", "testdata", "longhorn-backupstore")
	if cases, err = readCases(filepath.Join(fixtures, "CASES")); err != nil {
		return err
	}
	port, err := serveS3(fixtures, stops)
	if err != nil {
		return err
	}
	// The webhook reads the store on the host; the pods reach the same server
	// through the bridge's gateway, as a pod reaches a store outside the cluster.
	for k, v := range map[string]string{"AWS_ENDPOINTS": fmt.Sprintf("http://127.0.0.1:%d", port), "AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e-secret"} {
		os.Setenv(k, v)
	}
	work := filepath.Join(tmp, "cluster")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	c, err = cluster.Start(context.Background(), cluster.Options{
		Assets: assets, Binary: bin, ModuleDir: root, WorkDir: work,
		CRDDirs: []string{filepath.Join(root, "charts", "snaprestore", "crds")},
		WebhookArgs: []string{"--backupstore", "s3://" + bucket + "@us-east-1/", "--populator", "--populator-namespace", controllerNS,
			"--populator-image", "snaprestore:e2e", "--populator-backupstore-secret", storeSecret, "--populator-backoff", "1s", "-v", "1"},
	})
	if c != nil {
		*stops = append(*stops, c.Stop)
	}
	if err != nil {
		return err
	}
	if err := clusterObjects(port); err != nil {
		return err
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		args := []string{"--kubeconfig=" + c.Kubeconfig, "--secure-port=0", "--leader-elect=false", "--v=2"}
		if name == "kube-controller-manager" {
			args = append(args, "--controllers=*,-serviceaccount-token", "--use-service-account-credentials=false")
		}
		p, err := start(name, filepath.Join(tmp, name+".log"), filepath.Join(assets, name), args...)
		if err != nil {
			return err
		}
		*stops = append(*stops, p.stop)
	}
	return startNode(tmp, assets, bin, stops)
}

// startNode builds the images, starts containerd and the kubelet and the
// provisioner; its stop removes every trace of them.
func startNode(tmp, assets, bin string, stops *[]func() error) error {
	n := &node{dir: filepath.Join(tmp, "node")}
	ctx, cancel := context.WithCancel(context.Background())
	prov = &provisioner{c: c.Client, dir: filepath.Join(n.dir, "volumes")}
	*stops = append(*stops, func() error {
		cancel()
		return n.teardown(prov.devices())
	})
	images := []string{filepath.Join(tmp, "snaprestore-image.tar"), filepath.Join(tmp, "pause-image.tar"), filepath.Join(tmp, "busybox-image.tar")}
	if err := writeImage(images[0], "snaprestore:e2e", []string{"/bin/snaprestore"},
		[]imageFile{{Path: "bin/snaprestore", Source: bin}}); err != nil {
		return err
	}
	if err := writeImage(images[1], pauseImage, []string{"/bin/busybox", "sleep", "2147483647"},
		[]imageFile{{Path: "bin/busybox", Source: "/bin/busybox"}}); err != nil {
		return err
	}
	box := []imageFile{{Path: "bin/busybox", Source: "/bin/busybox"}}
	for _, tool := range []string{"sh", "sha256sum", "cut"} {
		box = append(box, imageFile{Path: "bin/" + tool, Link: "busybox"})
	}
	if err := writeImage(images[2], busyboxImage, []string{"/bin/sh"}, box); err != nil {
		return err
	}
	startCtx, stop := context.WithTimeout(ctx, 3*time.Minute)
	defer stop()
	if err := n.startContainerd(startCtx, images); err != nil {
		return err
	}
	if err := n.startKubelet(startCtx, c.Client, filepath.Join(assets, "kubelet"), c.Kubeconfig); err != nil {
		return err
	}
	go prov.run(ctx)
	return nil
}

// teardown stops the kubelet, the containers and containerd, then removes
// mounts, loop devices, the bridge and the cgroups, reporting each failure.
func (n *node) teardown(loops []string) error {
	var errs []error
	if n.kubelet != nil {
		errs = append(errs, n.kubelet.stop())
	}
	if n.containerd != nil {
		if !n.containerd.exited() {
			errs = append(errs, n.stopContainers())
		}
		errs = append(errs, n.containerd.stop())
	}
	errs = append(errs, n.killShims(), unmountUnder(n.dir), detachLoops(n.dir, loops), deleteBridge(), removeCgroups(),
		removeContainerLogLinks(filepath.Join(n.dir, "pod-logs")))
	return errors.Join(errs...)
}

// removeContainerLogLinks removes the kubelet's /var/log/containers links into
// the suite's pod log directory.
func removeContainerLogLinks(podLogs string) error {
	entries, err := os.ReadDir("/var/log/containers")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join("/var/log/containers", e.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, podLogs+"/") {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// serveS3 serves every fixture backupstore from an in-memory S3 bucket on all
// addresses (the pods come in through the bridge's gateway) and returns its port.
func serveS3(fixtures string, stops *[]func() error) (int, error) {
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return 0, err
	}
	dirs, err := filepath.Glob(filepath.Join(fixtures, "*", "backupstore"))
	if err != nil || len(dirs) == 0 {
		return 0, fmt.Errorf("no fixture backupstores under %s", fixtures)
	}
	// The S3 API answers with the Last-Modified its own PUT records.
	meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat)}
	for _, d := range dirs {
		base := filepath.Dir(d)
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(base, p)
			_, err = backend.PutObject(bucket, filepath.ToSlash(rel), maps.Clone(meta), bytes.NewReader(b), int64(len(b)), nil)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("upload fixture %s: %w", d, err)
		}
	}
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: gofakes3.New(backend).Server(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	*stops = append(*stops, srv.Close)
	return l.Addr().(*net.TCPAddr).Port, nil
}

// clusterObjects: the controller's namespace, the backupstore Secret the pods
// read (the store's address as a pod sees it) and the StorageClass.
func clusterObjects(port int) error {
	ctx := context.Background()
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNS}}); err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: storeSecret, Namespace: controllerNS}, StringData: map[string]string{
		"AWS_ENDPOINTS": fmt.Sprintf("http://%s:%d", gatewayIP, port), "AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e-secret",
	}}
	if err := c.Client.Create(ctx, secret); err != nil {
		return err
	}
	return c.Client.Create(ctx, storageClass())
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
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
