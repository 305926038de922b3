package kubelet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// The node's fixed names: the bridge, its subnet and the pod cgroup root are
// this suite's own, so its clean-up removes nothing of anyone else's.
const (
	nodeName   = "snaprestore-e2e-node"
	bridgeName = "snre2e0"
	podSubnet  = "10.231.77.0/24"
	gatewayIP  = "10.231.77.1"
	pauseImage = "snaprestore.test/pause:e2e"
	// busyboxImage runs the consumer pod that reads a restored volume.
	busyboxImage = "snaprestore.test/busybox:e2e"
)

// cgroupRoot is the parent of the kubelet's kubepods hierarchy, per run.
var cgroupRoot = fmt.Sprintf("/snaprestore-e2e-%d", os.Getpid())

// node is the containerd and the kubelet of the suite, under dir.
type node struct {
	dir        string
	containerd *testenv.Process
	kubelet    *testenv.Process
}

func (n *node) sock() string { return filepath.Join(n.dir, "containerd", "containerd.sock") }

// root is the kubelet's --root-dir (pods, volumes, termination messages).
func (n *node) root() string { return filepath.Join(n.dir, "kubelet") }

// containerdConfig: state, root and socket under dir; runc with cgroupfs; CNI
// config of the suite's bridge; oom_score_adj restricted because the machine
// grants no CAP_SYS_RESOURCE (runc otherwise fails "can't get final child's
// PID from pipe: EOF"); the native snapshotter, as the host's /tmp may itself
// be an overlay; device ownership from the security context, so that the
// Block populator pods run as blockUser (--populator-block-run-as-user).
func (n *node) containerdConfig() string {
	d := filepath.Join(n.dir, "containerd")
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.grpc.v1.introspection.unused"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[5]q
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = %[6]q
    restrict_oom_score_adj = true
    device_ownership_from_security_context = true
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "native"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          Root = %[8]q
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = %[7]q
`, filepath.Join(d, "root"), filepath.Join(d, "state"), n.sock(), n.sock()+".ttrpc",
		filepath.Join(d, "opt"), pauseImage, filepath.Join(n.dir, "cni"), filepath.Join(d, "runc"))
}

func (n *node) cniConfig() string {
	return fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "snaprestore-e2e", "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q, "gateway": %q}]], "dataDir": %q}}
]}`, bridgeName, podSubnet, gatewayIP, filepath.Join(n.dir, "cni-ipam"))
}

// startContainerd writes the configs, starts containerd and imports images.
func (n *node) startContainerd(ctx context.Context, images []string) error {
	for _, d := range []string{"containerd", "cni", "cni-ipam"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			return err
		}
	}
	conf := filepath.Join(n.dir, "containerd", "config.toml")
	if err := os.WriteFile(conf, []byte(n.containerdConfig()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.dir, "cni", "10-snaprestore-e2e.conflist"), []byte(n.cniConfig()), 0o644); err != nil {
		return err
	}
	p, err := testenv.StartProcess("containerd", filepath.Join(n.dir, "containerd.log"), "containerd", "--config", conf)
	if err != nil {
		return err
	}
	n.containerd = p
	if err := waitFor(ctx, "containerd socket "+n.sock(), p, func() bool {
		return exec.Command("ctr", "--address", n.sock(), "version").Run() == nil
	}); err != nil {
		return err
	}
	for _, img := range images {
		out, err := exec.Command("ctr", "--address", n.sock(), "-n", "k8s.io", "images", "import", "--snapshotter", "native", img).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ctr images import %s: %w\n%s", img, err, out)
		}
	}
	return nil
}

// kubeletConfig: cgroup v1 allowed (this host), cgroupfs under cgroupRoot,
// no image GC (the images cannot be pulled again), no eviction thresholds that
// a busy shared disk would trip, the API served on localhost only.
func (n *node) kubeletConfig(port, healthz int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: %q
containerRuntimeEndpoint: unix://%s
address: 127.0.0.1
port: %d
readOnlyPort: 0
podLogsDir: %q
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
serializeImagePulls: false
resolvConf: ""
`, cgroupRoot, n.sock(), port, filepath.Join(n.dir, "pod-logs"), healthz)
}

// startKubelet creates the cgroup root, starts the kubelet and waits for the
// node to be Ready.
func (n *node) startKubelet(ctx context.Context, c client.Client, kubeletBin, kubeconfig string) error {
	if err := makeCgroupRoot(); err != nil {
		return err
	}
	ports, err := testenv.FreePorts(2)
	if err != nil {
		return err
	}
	port, healthz := ports[0], ports[1]
	conf := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(conf, []byte(n.kubeletConfig(port, healthz)), 0o644); err != nil {
		return err
	}
	p, err := testenv.StartProcess("kubelet", filepath.Join(n.dir, "kubelet.log"), kubeletBin,
		"--config="+conf, "--kubeconfig="+kubeconfig, "--root-dir="+n.root(),
		"--cert-dir="+filepath.Join(n.dir, "kubelet-pki"), "--hostname-override="+nodeName,
		"--v=2")
	if err != nil {
		return err
	}
	n.kubelet = p
	return waitFor(ctx, "node "+nodeName+" Ready", p, func() bool {
		var node corev1.Node
		if c.Get(ctx, client.ObjectKey{Name: nodeName}, &node) != nil {
			return false
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue
			}
		}
		return false
	})
}

// waitFor polls cond every 250 ms until ctx ends, failing early when p exits.
func waitFor(ctx context.Context, what string, p *testenv.Process, cond func() bool) error {
	for !cond() {
		if p != nil && p.Exited() {
			return fmt.Errorf("%s: %s exited: %v", what, p.Name, p.Err())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// cgroupControllers are the v1 hierarchies mounted under /sys/fs/cgroup.
func cgroupControllers() ([]string, error) {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		// Symlinks (cpu -> cpu,cpuacct) name a hierarchy listed already.
		if e.IsDir() {
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return out, nil
}

func makeCgroupRoot() error {
	ctls, err := cgroupControllers()
	if err != nil {
		return err
	}
	for _, c := range ctls {
		if err := os.MkdirAll(filepath.Join(c, cgroupRoot), 0o755); err != nil {
			return fmt.Errorf("cgroup root: %w", err)
		}
	}
	return nil
}
