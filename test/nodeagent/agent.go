package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// The StorageClasses Start creates, both of Options.Provisioner with reclaim Delete.
const (
	ImmediateClass = "nodeagent-immediate"
	WFCClass       = "nodeagent-wfc" // volumeBindingMode WaitForFirstConsumer
)

// Options configure Start. Dir is required; StartTest defaults it.
type Options struct {
	// Images maps a container image to the host binary that is its entrypoint,
	// e.g. {"snaprestore:e2e": "/path/to/snaprestore", "busybox": "/bin/sh"}. A
	// container without command runs that binary with its args; with a command,
	// command[0] is the binary when its base name is the binary's, otherwise the
	// command is looked up on the host's PATH (sh, dd). In command, args, env values
	// and workingDir, $(VAR) is expanded and each volumeMounts[].mountPath, each
	// volumeDevices[].devicePath and the terminationMessagePath is replaced by its
	// host path wherever it stands as a path (see substitute): programs that
	// hard-code a container path are not redirected. A pod with another image fails.
	Images map[string]string
	// Dir holds the volumes' backing files and directories and the pods' work dirs.
	// A Block volume is a sparse regular file of the claim's size, not a device node
	// (a program that needs ioctls of a block device fails on it); a Filesystem
	// volume is a directory of Dir's filesystem, so statfs reports that
	// filesystem's free space, not the claim's size. Containers run as the agent's
	// user; securityContext, resources and probes are not applied.
	Dir string
	// MountFilesystems makes each Filesystem volume a fresh ext4 filesystem of
	// the claim's size (NewFilesystem: an image in Dir on a direct-I/O loop
	// device), as a CSI driver's new volume is, instead of a directory of
	// Dir's filesystem; statfs then reports the claim's size. It needs root.
	// The benchmarks use it: writing into Dir's filesystem measures that
	// filesystem's history too (a journal-less ext4, as on the CI machine,
	// looks at every recently deleted inode again before it reuses one).
	MountFilesystems bool
	// ArtifactsDir receives kubeconfig, kube-controller-manager.log,
	// kube-scheduler.log and pods/<namespace>_<pod>/<container>.log. Default Dir.
	ArtifactsDir string
	// Assets is the directory with kube-controller-manager and kube-scheduler.
	// Default $KUBEBUILDER_ASSETS.
	Assets string
	// NodeName is the one Node's name and kubernetes.io/hostname. Default "nodeagent".
	NodeName string
	// Provisioner is the provisioner and CSI driver name of the agent's volumes, a
	// DNS subdomain of at most 63 characters. Default "hostpath.test.snaprestore.io".
	Provisioner string
	// Env is added to every container's environment (after HOME and the agent's
	// PATH, before the pod's own), e.g. KUBECONFIG=<Cluster.Kubeconfig>.
	Env []string
	// ReadyWithin bounds Start's wait for the controller-manager, scheduler and a
	// Ready, untainted node. Default 2m (a loaded 2-core machine).
	ReadyWithin time.Duration
	// Logger receives the agent's log. Default discard.
	Logger logr.Logger
}

func (o *Options) setDefaults() {
	if o.ArtifactsDir == "" {
		o.ArtifactsDir = o.Dir
	}
	if o.NodeName == "" {
		o.NodeName = "nodeagent"
	}
	if o.Provisioner == "" {
		o.Provisioner = "hostpath.test.snaprestore.io"
	}
	if o.ReadyWithin == 0 {
		o.ReadyWithin = 2 * time.Minute
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
}

// Validate says what is missing: Dir, a binary of Assets, an image's binary.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("nodeagent.Options.Dir is empty; expected a directory for volumes and pods"))
	}
	if _, err := testenv.Assets(o.Assets, "kube-controller-manager", "kube-scheduler"); err != nil {
		errs = append(errs, err)
	}
	if o.MountFilesystems {
		if err := canMount(); err != nil {
			errs = append(errs, fmt.Errorf("nodeagent.Options.MountFilesystems: %w", err))
		}
	}
	if msgs := validation.IsDNS1123Subdomain(o.Provisioner); len(msgs) > 0 || len(o.Provisioner) > 63 {
		errs = append(errs, fmt.Errorf("nodeagent.Options.Provisioner %q: expected a CSI driver name, a DNS subdomain of at most 63 characters %v", o.Provisioner, msgs))
	}
	for _, image := range sortedKeys(o.Images) {
		if fi, err := os.Stat(o.Images[image]); err != nil || fi.IsDir() {
			errs = append(errs, fmt.Errorf("nodeagent.Options.Images[%q]: %q is not a file; expected the image's entrypoint binary", image, o.Images[image]))
		}
	}
	return errors.Join(errs...)
}

// Cluster is the running agent, controller-manager and scheduler. Stop ends them.
type Cluster struct {
	// Node is the name of the agent's Node.
	Node string
	// Provisioner is the agent's provisioner and CSI driver name.
	Provisioner string
	// Kubeconfig is the admin kubeconfig the processes use (in ArtifactsDir).
	Kubeconfig string

	o      Options
	client client.Client
	k      *kubelet
	procs  []*testenv.Process
	cancel context.CancelFunc
	mgrErr chan error
}

// StartTest starts the agent for t on the API server of cfg, with Dir and
// ArtifactsDir defaulting to temporary directories of t, and stops it when t ends.
// It fails t when a binary is missing: it never skips.
func StartTest(t testing.TB, cfg *rest.Config, o Options) *Cluster {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	c, err := Start(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("start node agent: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop node agent: %v", err)
		}
	})
	return c
}

// Start registers the node, creates the CSIDriver and the classes ImmediateClass and
// WFCClass, runs kube-controller-manager and kube-scheduler and the agent, and
// returns once the node is Ready and schedulable. One agent per API server.
func Start(ctx context.Context, cfg *rest.Config, o Options) (_ *Cluster, err error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	assets, _ := testenv.Assets(o.Assets)
	c := &Cluster{Node: o.NodeName, Provisioner: o.Provisioner, o: o, Kubeconfig: filepath.Join(o.ArtifactsDir, "kubeconfig")}
	if c.client, err = client.New(cfg, client.Options{}); err != nil {
		return nil, err
	}
	if err := writeKubeconfig(cfg, c.Kubeconfig); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.ReadyWithin)
	defer cancel()
	if err := c.setup(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if err := c.runManager(cfg); err != nil {
		return nil, err
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		bin, _ := binaryPath(assets, name)
		logPath := filepath.Join(o.ArtifactsDir, name+".log")
		p, err := testenv.StartProcess(name, logPath, bin, componentArgs(name, c.Kubeconfig)...)
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, p)
		if err := waitLeader(ctx, c.client, p, logPath); err != nil {
			return nil, err
		}
	}
	return c, c.waitNode(ctx)
}

// setup registers the node, starts its heartbeat and creates the cluster objects.
func (c *Cluster) setup(ctx context.Context) error {
	if err := registerNode(ctx, c.client, c.Node); err != nil {
		return err
	}
	driver := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: c.Provisioner},
		Spec: storagev1.CSIDriverSpec{AttachRequired: new(false), PodInfoOnMount: new(false)}}
	if err := c.client.Create(ctx, driver); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create CSIDriver %s: %w", c.Provisioner, err)
	}
	for name, mode := range map[string]storagev1.VolumeBindingMode{
		ImmediateClass: storagev1.VolumeBindingImmediate, WFCClass: storagev1.VolumeBindingWaitForFirstConsumer} {
		if _, err := c.StorageClass(ctx, name, mode); err != nil {
			return err
		}
	}
	return nil
}

// runManager starts the agent's controllers (kubelet, provisioner, PV deleter) and
// the node heartbeat until Stop.
func (c *Cluster) runManager(cfg *rest.Config) error {
	o := c.o
	mgr, err := manager.New(cfg, manager.Options{
		Logger: o.Logger, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: new(true)},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Field: fields.OneTermEqualSelector("spec.nodeName", o.NodeName)}}},
	})
	if err != nil {
		return fmt.Errorf("node agent manager: %w", err)
	}
	c.k = &kubelet{c: mgr.GetClient(), api: mgr.GetAPIReader(), node: o.NodeName, provisioner: o.Provisioner,
		dir: o.Dir, logDir: o.ArtifactsDir, images: o.Images, env: o.Env, log: o.Logger.WithName("kubelet"),
		runs: map[types.NamespacedName]*podRun{}}
	opts := controller.Options{MaxConcurrentReconciles: 4}
	err = errors.Join(
		builder.ControllerManagedBy(mgr).Named("nodeagent-kubelet").For(&corev1.Pod{}).WithOptions(opts).Complete(c.k),
		builder.ControllerManagedBy(mgr).Named("nodeagent-provisioner").For(&corev1.PersistentVolumeClaim{}).
			Complete(&claims{c: mgr.GetClient(), provisioner: o.Provisioner, node: o.NodeName, dir: o.Dir, mount: o.MountFilesystems}),
		builder.ControllerManagedBy(mgr).Named("nodeagent-deleter").For(&corev1.PersistentVolume{}).
			Complete(&volumes{c: mgr.GetClient(), provisioner: o.Provisioner, dir: o.Dir}))
	if err != nil {
		return fmt.Errorf("node agent controllers: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.mgrErr = cancel, make(chan error, 1)
	go heartbeat(ctx, c.client, c.Node, func(err error) { o.Logger.Error(err, "Heartbeat") })
	go func() { c.mgrErr <- mgr.Start(ctx) }()
	return nil
}

// waitNode waits until the node lifecycle controller has seen the node Ready and
// lifted the not-ready taint the API server put on it.
func (c *Cluster) waitNode(ctx context.Context) error {
	var node corev1.Node
	for {
		err := c.client.Get(ctx, client.ObjectKey{Name: c.Node}, &node)
		if err == nil && len(node.Spec.Taints) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s still has taints %v (err %v): %w; see %s", c.Node, node.Spec.Taints, err, ctx.Err(),
				filepath.Join(c.o.ArtifactsDir, "kube-controller-manager.log"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StorageClass creates (or keeps) a class of the agent's provisioner with reclaim
// policy Delete and binding mode mode.
func (c *Cluster) StorageClass(ctx context.Context, name string, mode storagev1.VolumeBindingMode) (*storagev1.StorageClass, error) {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: c.Provisioner,
		ReclaimPolicy: new(corev1.PersistentVolumeReclaimDelete), VolumeBindingMode: &mode}
	if err := c.client.Create(ctx, sc); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create StorageClass %s: %w", name, err)
	}
	return sc, nil
}

// Kill sends SIGKILL to the running processes of pod namespace/name, as if its
// containers crashed; the restart policy then applies. ErrNotRunning when none runs.
func (c *Cluster) Kill(namespace, name string) error {
	return c.k.kill(types.NamespacedName{Namespace: namespace, Name: name})
}

// PVPath is the backing file (Block) or directory (Filesystem) of PV name, which
// must be one of the agent's.
func (c *Cluster) PVPath(ctx context.Context, name string) (string, error) {
	var pv corev1.PersistentVolume
	if err := c.client.Get(ctx, client.ObjectKey{Name: name}, &pv); err != nil {
		return "", fmt.Errorf("PV %s: %w", name, err)
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != c.Provisioner {
		return "", fmt.Errorf("PV %s is not a volume of provisioner %s", name, c.Provisioner)
	}
	return pv.Spec.CSI.VolumeAttributes[pathAttribute], nil
}

// TerminationMessagePath is the host file that a container of the pod of uid
// sees as its terminationMessagePath (read when the container exits).
func (c *Cluster) TerminationMessagePath(uid, container string) string {
	return filepath.Join(containerDir(c.o.Dir, uid, container), termFile)
}

// PodLog is the path of the output (stdout and stderr) of a pod's container.
func (c *Cluster) PodLog(namespace, pod, container string) string {
	return filepath.Join(c.o.ArtifactsDir, "pods", namespace+"_"+pod, container+".log")
}

// Stop stops the agent, kills the pods' processes, then stops kube-scheduler and
// kube-controller-manager. It reports a process that had exited on its own.
func (c *Cluster) Stop() error {
	var errs []error
	if c.cancel != nil {
		c.cancel()
		errs = append(errs, <-c.mgrErr)
		c.cancel = nil
	}
	if c.k != nil {
		c.k.stopAll()
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].Stop())
	}
	c.procs = nil
	if c.o.MountFilesystems {
		errs = append(errs, unmountAll(filepath.Join(c.o.Dir, "volumes")))
	}
	return errors.Join(errs...)
}
