package kubelet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// bucket the fixtures are served from, at its root as Longhorn writes them,
// hostStore the URL of that target; damagedBucket holds the lz4-chain
// fixture with every block object garbled. bigSize is the size of
// vol-big/backup-big, random data: its restore is long enough to interrupt.
const (
	controllerNS  = "snaprestore-system"
	bucket        = "backups"
	hostStore     = "s3://" + bucket + "@us-east-1/"
	damagedBucket = "damaged"
	storeSecret   = "backupstore"
	bigSize       = 256 << 20
	// blockUser runs the Block populator pods (--populator-block-run-as-user):
	// the node's containerd gives the mapped device to the pod's user.
	blockUser = 65532
)

// The suite's cluster and the facts the tests check against: cases maps
// bak:// handles to the sha256 of their image (fixture CASES), bigSHA is the
// sha256 of vol-big/backup-big, binary the snaprestore built for the suite.
var (
	c      *cluster.Cluster
	prov   *provisioner
	cases  map[string]string
	bigSHA string
	binary string
	// kubeletRoot is the kubelet's --root-dir.
	kubeletRoot string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

// parallel is the default -parallel of the suite: every test is one or two
// PVCs that mostly wait (on the kubelet, containerd, the PV binder), so all
// of them run at once on a 2-core machine, where go test's default (the CPU
// count) would run two at a time. An explicit -test.parallel wins.
const parallel = "10"

func setParallel() {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", parallel)
	}
}

// clock prints how long each phase of the suite took, for its wall time in
// docs/populator.md and for a slow run's diagnosis.
var clock = lapClock{start: time.Now(), last: time.Now()}

type lapClock struct{ start, last time.Time }

func (l *lapClock) lap(what string) {
	now := time.Now()
	fmt.Fprintf(os.Stderr, "kubelet e2e: %s: %s\n", what, now.Sub(l.last).Round(time.Millisecond))
	l.last = now
}

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
		setParallel()
		code = m.Run()
		clock.lap("the tests")
		// What each test left, as a user lists it (docs/populator.md shows it).
		if r, err := c.Kubectl(context.Background(), tmp, "", "get", "backupsources", "-A"); err == nil {
			fmt.Fprintf(os.Stderr, "kubelet e2e: kubectl get backupsources -A after the tests:\n%s", r.Stdout)
		}
	}
	if code != 0 && c != nil {
		fmt.Fprintf(os.Stderr, "kubelet e2e: webhook log ends:\n%s\nlogs in %s\n", c.LogTail(), tmp)
	}
	ok := teardown()
	clock.lap("clean-up")
	fmt.Fprintf(os.Stderr, "kubelet e2e: whole suite: %s\n", time.Since(clock.start).Round(time.Millisecond))
	if !ok {
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
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "losetup", "ip", "sha256sum", "mkfs.ext4", "e2fsck", "mount"} {
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
		return fmt.Errorf("missing %s; expected containerd, runc, containernetworking-plugins, e2fsprogs, mount and busybox-static (hack/test-deps.sh installs them)", strings.Join(missing, ", "))
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
	root, err := testenv.ModuleRoot()
	if err != nil {
		return err
	}
	bin, err := testenv.BuildSnaprestore(tmp, "CGO_ENABLED=0")
	if err != nil {
		return err
	}
	clock.lap("go build ./cmd/snaprestore")
	fixtures := filepath.Join(root, "restore", "testdata", "longhorn-backupstore")
	all, err := testenv.ReadCases(filepath.Join(fixtures, "CASES"))
	if err != nil {
		return err
	}
	cases = map[string]string{}
	for _, c := range all {
		cases[c.Handle()] = c.SHA256
	}
	port, err := serveS3(fixtures, stops)
	if err != nil {
		return err
	}
	clock.lap("fixtures into the in-memory S3 store")
	// The webhook reads the store on the host; the pods reach the same server
	// through the bridge's gateway, as a pod reaches a store outside the cluster.
	for k, v := range map[string]string{"AWS_ENDPOINTS": fmt.Sprintf("http://127.0.0.1:%d", port), "AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e-secret"} {
		os.Setenv(k, v)
	}
	binary = bin
	if bigSHA, err = randomBackup(bin, filepath.Join(tmp, "big.img"), bigSize, "vol-big", "backup-big"); err != nil {
		return err
	}
	clock.lap(fmt.Sprintf("snaprestore backup of %d MiB of random data (vol-big)", bigSize>>20))
	work := filepath.Join(tmp, "cluster")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	c, err = cluster.Start(context.Background(), cluster.Options{
		Assets: assets, Binary: bin, ModuleDir: root, WorkDir: work,
		CRDDirs: []string{filepath.Join(root, "charts", "snaprestore", "crds")},
		WebhookArgs: []string{"--backupstore", hostStore, "--populator", "--populator-namespace", controllerNS,
			"--populator-image", "snaprestore:e2e", "--populator-backupstore-secret", storeSecret, "--populator-backoff", "1s",
			"--populator-block-run-as-user", strconv.Itoa(blockUser), "-v", "1"},
	})
	if c != nil {
		*stops = append(*stops, c.Stop)
	}
	if err != nil {
		return err
	}
	clock.lap("etcd, kube-apiserver and snaprestore webhook")
	if err := clusterObjects(port); err != nil {
		return err
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		args := []string{"--kubeconfig=" + c.Kubeconfig, "--secure-port=0", "--leader-elect=false", "--v=2"}
		if name == "kube-controller-manager" {
			args = append(args, "--controllers=*,-serviceaccount-token", "--use-service-account-credentials=false")
		}
		p, err := testenv.StartProcess(name, filepath.Join(tmp, name+".log"), filepath.Join(assets, name), args...)
		if err != nil {
			return err
		}
		*stops = append(*stops, p.Stop)
	}
	clock.lap("kube-controller-manager and kube-scheduler")
	return startNode(tmp, assets, bin, stops)
}

// startNode builds the images, starts containerd and the kubelet and the
// provisioner; its stop removes every trace of them.
func startNode(tmp, assets, bin string, stops *[]func() error) error {
	n := &node{dir: filepath.Join(tmp, "node")}
	kubeletRoot = n.root()
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
	clock.lap("images written, containerd started, images imported")
	if err := n.startKubelet(startCtx, c.Client, filepath.Join(assets, "kubelet"), c.Kubeconfig); err != nil {
		return err
	}
	clock.lap("kubelet started, node Ready")
	go prov.run(ctx)
	return nil
}

// teardown stops the kubelet, the containers and containerd, then removes
// mounts, loop devices, the bridge and the cgroups, reporting each failure.
func (n *node) teardown(loops []string) error {
	var errs []error
	if n.kubelet != nil {
		errs = append(errs, n.kubelet.Stop())
	}
	if n.containerd != nil {
		if !n.containerd.Exited() {
			errs = append(errs, n.stopContainers())
		}
		errs = append(errs, n.containerd.Stop())
	}
	errs = append(errs, n.killShims(), unmountUnder(n.dir), detachLoops(func(f string) bool { return strings.HasPrefix(f, n.dir+"/") }, loops), deleteBridge(), removeCgroups(),
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

// serveS3 serves every fixture backupstore from the in-memory S3 bucket
// bucket, and the lz4-chain fixture with every block object garbled from
// damagedBucket, on all addresses (the pods come in through the bridge's
// gateway), and returns its port.
func serveS3(fixtures string, stops *[]func() error) (int, error) {
	backend := s3mem.New()
	for _, b := range []string{bucket, damagedBucket} {
		if err := backend.CreateBucket(b); err != nil {
			return 0, err
		}
	}
	dirs, err := filepath.Glob(filepath.Join(fixtures, "*", "backupstore"))
	if err != nil || len(dirs) == 0 {
		return 0, fmt.Errorf("no fixture backupstores under %s", fixtures)
	}
	for _, d := range dirs {
		if err := upload(backend, bucket, d, nil); err != nil {
			return 0, err
		}
	}
	if err := upload(backend, damagedBucket, filepath.Join(fixtures, "lz4-chain", "backupstore"), garble); err != nil {
		return 0, err
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

// upload puts every file of the backupstore directory dir into bkt under
// backupstore/, as Longhorn writes a bucket-root target; edit, when set,
// changes an object's bytes first.
func upload(backend *s3mem.Backend, bkt, dir string, edit func(key string, b []byte) []byte) error {
	// The S3 API answers with the Last-Modified its own PUT records.
	meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat)}
	base := filepath.Dir(dir)
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		key := filepath.ToSlash(rel)
		if edit != nil {
			b = edit(key, b)
		}
		_, err = backend.PutObject(bkt, key, maps.Clone(meta), bytes.NewReader(b), int64(len(b)), nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("upload fixture %s to bucket %s: %w", dir, bkt, err)
	}
	return nil
}

// garble overwrites 64 bytes in the middle of every block object.
func garble(key string, b []byte) []byte {
	if !strings.HasSuffix(key, ".blk") {
		return b
	}
	b = bytes.Clone(b)
	copy(b[len(b)/2:], bytes.Repeat([]byte{0x5a}, 64))
	return b
}

// randomBackup writes size bytes of random data to img, backs them up to the
// suite's store as volume/backup, removes img and returns the data's sha256
// (vol-big/backup-big: a restore long enough to interrupt).
func randomBackup(bin, img string, size int64, volume, backup string) (string, error) {
	f, err := os.Create(img)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if out, err := exec.Command(bin, "backup", "--backupstore", hostStore, "--volume", volume, "--from", img, "--backup", backup).CombinedOutput(); err != nil {
		return "", fmt.Errorf("snaprestore backup of %s: %w\n%s", img, err, out)
	}
	return hex.EncodeToString(h.Sum(nil)), os.Remove(img)
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
	for _, sc := range storageClasses() {
		if err := c.Client.Create(ctx, sc); err != nil {
			return err
		}
	}
	return nil
}
