package nodeagent

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestSubstitute(t *testing.T) {
	t.Parallel()
	maps := []pathMap{{"/data", "/h/v1"}, {"/data/sub", "/h/v2"}, {"/dev/xvdb", "/h/blk"}}
	for _, tc := range []struct{ in, want string }{
		{"/data", "/h/v1"},
		{"echo hi > /data/x", "echo hi > /h/v1/x"},
		{"--dir=/data", "--dir=/h/v1"},
		{"/data/sub/f /data/subway", "/h/v2/f /h/v1/subway"},
		{"/database /x/data data", "/database /x/data data"},
		{"of=/dev/xvdb bs=512", "of=/h/blk bs=512"},
		{"'/data'", "'/h/v1'"},
		{"/data.bak", "/data.bak"},
	} {
		if got := substitute(tc.in, maps); got != tc.want {
			t.Errorf("substitute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"A": "1", "B": "two"}
	for _, tc := range []struct{ in, want string }{
		{"$(A)-$(B)", "1-two"},
		{"$$(A)", "$(A)"},
		{"$(C) $A $(A", "$(C) $A $(A"},
		{"cost $", "cost $"},
	} {
		if got := expand(tc.in, vars); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProvisionDecision(t *testing.T) {
	t.Parallel()
	const prov, node = "hostpath.test.example", "n1"
	wfc := storagev1.VolumeBindingWaitForFirstConsumer
	immediate := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "imm"}, Provisioner: prov}
	late := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "wfc"}, Provisioner: prov, VolumeBindingMode: &wfc}
	pvc := func(edit func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
		p := claim("ns", "c", "imm", corev1.PersistentVolumeFilesystem, "1Mi")
		p.Annotations = map[string]string{annStorageProvisioner: prov}
		if edit != nil {
			edit(p)
		}
		return p
	}
	group := "example.com"
	for _, tc := range []struct {
		name   string
		pvc    *corev1.PersistentVolumeClaim
		class  *storagev1.StorageClass
		want   bool
		reason string
	}{
		{"handed over", pvc(nil), immediate, true, ""},
		{"not handed over", pvc(func(p *corev1.PersistentVolumeClaim) { p.Annotations = nil }), immediate, false, "annotation volume.kubernetes.io/storage-provisioner is \"\""},
		{"bound", pvc(func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeName = "pv" }), immediate, false, "claim names volume pv"},
		{"other class", pvc(nil), &storagev1.StorageClass{Provisioner: "other"}, false, "storage class is not of provisioner"},
		{"populator kind", pvc(func(p *corev1.PersistentVolumeClaim) {
			p.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &group, Kind: "Widget", Name: "w"}
		}), immediate, false, "claim has a data source"},
		{"WFC, no node", pvc(nil), late, false, "annotation volume.kubernetes.io/selected-node is \"\", not this node \"n1\""},
		{"WFC, other node", pvc(func(p *corev1.PersistentVolumeClaim) { p.Annotations[annSelectedNode] = "n2" }), late, false, "is \"n2\""},
		{"WFC, this node", pvc(func(p *corev1.PersistentVolumeClaim) { p.Annotations[annSelectedNode] = node }), late, true, ""},
	} {
		got, reason := provisionDecision(tc.pvc, tc.class, prov, node)
		if got != tc.want || !strings.Contains(reason, tc.reason) || (tc.want && reason != "") {
			t.Errorf("%s: provisionDecision = %v, %q; want %v, %q", tc.name, got, reason, tc.want, tc.reason)
		}
	}
}

func TestNewPV(t *testing.T) {
	t.Parallel()
	retain := corev1.PersistentVolumeReclaimRetain
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "imm"}, Provisioner: "p"}
	pvc := claim("ns", "c", "imm", corev1.PersistentVolumeBlock, "2Mi")
	pvc.UID = "u1"
	pv := newPV(pvc, class, "n1", "/d/volumes/pvc-u1")
	if pv.Name != "pvc-u1" || pv.Spec.ClaimRef.UID != "u1" || !isBlock(pv.Spec.VolumeMode) ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		!cmp.Equal(pv.Finalizers, []string{provisionerFinalizer}) ||
		pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "n1" {
		t.Errorf("newPV = %+v", pv)
	}
	class.ReclaimPolicy = &retain
	if pv := newPV(pvc, class, "n1", "/x"); pv.Finalizers != nil || pv.Spec.PersistentVolumeReclaimPolicy != retain {
		t.Errorf("newPV with reclaim Retain: finalizers %v, policy %s; want none, Retain", pv.Finalizers, pv.Spec.PersistentVolumeReclaimPolicy)
	}
}

func TestPVDecision(t *testing.T) {
	t.Parallel()
	now := metav1.Now()
	pv := func(policy corev1.PersistentVolumeReclaimPolicy, phase corev1.PersistentVolumePhase, deleting bool, fin ...string) *corev1.PersistentVolume {
		v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annProvisionedBy: "p"}, Finalizers: fin},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: policy}, Status: corev1.PersistentVolumeStatus{Phase: phase}}
		if deleting {
			v.DeletionTimestamp = &now
		}
		return v
	}
	del, ret := corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain
	for _, tc := range []struct {
		name string
		pv   *corev1.PersistentVolume
		want pvAction
	}{
		{"bound", pv(del, corev1.VolumeBound, false, provisionerFinalizer), pvKeep},
		{"released, Delete", pv(del, corev1.VolumeReleased, false, provisionerFinalizer), pvDeleteObject},
		{"released, Retain", pv(ret, corev1.VolumeReleased, false), pvKeep},
		{"deleting, Delete", pv(del, corev1.VolumeReleased, true, provisionerFinalizer), pvDeleteBacking},
		{"deleting, Retain", pv(ret, corev1.VolumeReleased, true, provisionerFinalizer), pvDropFinalizer},
		{"deleting, finalizer gone", pv(del, corev1.VolumeReleased, true), pvKeep},
	} {
		if got := pvDecision(tc.pv, "p"); got != tc.want {
			t.Errorf("%s: pvDecision = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := pvDecision(pv(del, corev1.VolumeReleased, false), "other"); got != pvKeep {
		t.Errorf("PV of another provisioner: pvDecision = %d, want pvKeep", got)
	}
}

func TestPodPhase(t *testing.T) {
	t.Parallel()
	waiting := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	exit := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	restarting := waiting
	restarting.RestartCount = 1
	never, onFailure, always := corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure, corev1.RestartPolicyAlways
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		st     []corev1.ContainerStatus
		want   corev1.PodPhase
	}{
		{never, []corev1.ContainerStatus{waiting}, corev1.PodPending},
		{never, []corev1.ContainerStatus{running, exit(0)}, corev1.PodRunning},
		{never, []corev1.ContainerStatus{exit(0), exit(0)}, corev1.PodSucceeded},
		{never, []corev1.ContainerStatus{exit(0), exit(2)}, corev1.PodFailed},
		{onFailure, []corev1.ContainerStatus{restarting}, corev1.PodRunning},
		{onFailure, []corev1.ContainerStatus{exit(0)}, corev1.PodSucceeded},
		{always, []corev1.ContainerStatus{exit(0)}, corev1.PodRunning},
	} {
		if got := podPhase(tc.policy, tc.st); got != tc.want {
			t.Errorf("podPhase(%s, %v) = %s, want %s", tc.policy, tc.st, got, tc.want)
		}
	}
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{{never, 1, false}, {onFailure, 0, false}, {onFailure, 137, true}, {always, 0, true}} {
		if got := restarts(tc.policy, tc.code); got != tc.want {
			t.Errorf("restarts(%s, %d) = %v, want %v", tc.policy, tc.code, got, tc.want)
		}
	}
}

func TestPlanContainer(t *testing.T) {
	t.Parallel()
	images := map[string]string{"app:1": "/opt/bin/app", "busybox": "/bin/sh"}
	vols := map[string]hostVolume{"data": {path: "/h/data"}, "blk": {path: "/h/blk", block: true}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	fp := field.NewPath("spec", "containers").Index(0)
	c := &corev1.Container{Name: "c", Image: "app:1", Args: []string{"populate", "--device=/dev/target", "--out", "/data/x", "$(MODE)"},
		Env:           []corev1.EnvVar{{Name: "MODE", Value: "block"}, {Name: "TARGET", Value: "/dev/target"}},
		VolumeMounts:  []corev1.VolumeMount{{Name: "data", MountPath: "/data/"}},
		VolumeDevices: []corev1.VolumeDevice{{Name: "blk", DevicePath: "/dev/target"}}}
	got, err := planContainer(pod, c, fp, images, vols, envSources{}, "/w")
	if err != nil {
		t.Fatal(err)
	}
	want := procSpec{name: "c", argv: []string{"/opt/bin/app", "populate", "--device=/h/blk", "--out", "/h/data/x", "block"},
		env: []string{"MODE=block", "TARGET=/h/blk"}, dir: "/w", termPath: "/w/termination-log"}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(procSpec{})); diff != "" {
		t.Errorf("planContainer (-want +got):\n%s", diff)
	}
	c.Command = []string{"/usr/local/bin/app", "run"}
	if got, err := planContainer(pod, c, fp, images, vols, envSources{}, "/w"); err != nil || got.argv[0] != "/opt/bin/app" || got.argv[1] != "run" {
		t.Errorf("command naming the image's binary: argv %q, %v; want /opt/bin/app run ...", got.argv, err)
	}
	for _, tc := range []struct {
		name string
		edit func(*corev1.Container)
		want string
	}{
		{"unknown image", func(c *corev1.Container) { c.Image = "x:2" }, `spec.containers[0].image: image "x:2" is not one of nodeagent Options.Images (app:1, busybox)`},
		{"block mounted", func(c *corev1.Container) { c.VolumeMounts[0].Name = "blk" }, `spec.containers[0].volumeMounts[0].name: volume "blk" is a Block volume; expected it in volumeDevices`},
		{"dir as device", func(c *corev1.Container) { c.VolumeDevices[0].Name = "data" }, `spec.containers[0].volumeDevices[0].name: volume "data" is not a Block PVC volume`},
		{"root mount", func(c *corev1.Container) { c.VolumeMounts[0].MountPath = "/" }, `spec.containers[0].volumeMounts[0].mountPath: "/": expected an absolute path below /`},
		{"no such command", func(c *corev1.Container) { c.Command = []string{"no-such-tool-here"} }, `spec.containers[0].command[0]: command "no-such-tool-here" is neither`},
		{"missing secret", func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}, `spec.containers[0].env[0].valueFrom.secretKeyRef: key "k" of secret "s" not found`},
	} {
		cc := c.DeepCopy()
		tc.edit(cc)
		_, err := planContainer(pod, cc, fp, images, vols, envSources{}, "/w")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: planContainer error %v; want one starting %q", tc.name, err, tc.want)
		}
		if unsupported := errors.Is(err, ErrUnsupported); unsupported == (tc.name == "missing secret") {
			t.Errorf("%s: errors.Is(ErrUnsupported) = %v; a missing object is retried, the rest refused", tc.name, unsupported)
		}
	}
}

func TestValidateSaysWhatIsMissing(t *testing.T) {
	t.Parallel()
	o := Options{Assets: t.TempDir(), Provisioner: "Bad/Name", Images: map[string]string{"app:1": "/no/such/binary"}}
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate of empty options: no error")
	}
	for _, want := range []string{
		"nodeagent.Options.Dir is empty",
		"kube-controller-manager not found in " + o.Assets, "kube-scheduler not found in " + o.Assets,
		`nodeagent.Options.Provisioner "Bad/Name": expected a CSI driver name`,
		`nodeagent.Options.Images["app:1"]: "/no/such/binary" is not a file`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not say %q", err, want)
		}
	}
}

// A Block volume may be the first the agent makes: its directory is made too.
func TestMakeBacking(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "imm"}, Provisioner: "p"}
	for _, mode := range []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem} {
		pvc := claim("ns", "c", "imm", mode, "3Mi")
		pvc.UID = types.UID("u-" + string(mode))
		pv := newPV(pvc, class, "n1", volumePath(dir, "pvc-"+string(pvc.UID)))
		for range 2 { // idempotent
			if err := makeBacking(pv, false); err != nil {
				t.Fatalf("%s: makeBacking: %v", mode, err)
			}
		}
		fi, err := os.Stat(volumePath(dir, pv.Name))
		if err != nil || fi.IsDir() == (mode == corev1.PersistentVolumeBlock) || (!fi.IsDir() && fi.Size() != 3<<20) {
			t.Errorf("%s: backing %v, %v; want a 3 MiB file for Block, a directory for Filesystem", mode, fi, err)
		}
	}
}

// With MountFilesystems a Filesystem volume is a fresh ext4 of the claim's
// size on its own mount, made once, and deleting it leaves no mount, loop
// device, image or directory. It needs root, as the kubelet suite does, and
// fails without it: it never skips.
func TestMountedFilesystem(t *testing.T) {
	if err := canMount(); err != nil {
		t.Fatalf("cannot mount: %v", err)
	}
	dir := t.TempDir()
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "imm"}, Provisioner: "p"}
	pvc := claim("ns", "c", "imm", corev1.PersistentVolumeFilesystem, "64Mi")
	pvc.UID = "u-mount"
	path := volumePath(dir, "pvc-u-mount")
	pv := newPV(pvc, class, "n1", path)
	t.Cleanup(func() { _ = RemoveFilesystem(imagePath(path), path) })
	for range 2 { // idempotent: the second call finds the mount
		if err := makeBacking(pv, true); err != nil {
			t.Fatalf("makeBacking: %v", err)
		}
	}
	if mounted, err := isMountPoint(path); err != nil || !mounted {
		t.Fatalf("%s mounted %v, %v; want a mount point", path, mounted, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	if size := int64(st.Blocks) * st.Bsize; st.Type != unix.EXT4_SUPER_MAGIC || size > 64<<20 || size < 48<<20 {
		t.Errorf("filesystem type %#x of %d bytes; want ext4 of about 64 MiB", st.Type, size)
	}
	if out, err := exec.Command("mount").Output(); err != nil || strings.Count(string(out), " "+path+" ") != 1 {
		t.Errorf("%s mounted %d times (%v); want once", path, strings.Count(string(out), " "+path+" "), err)
	}
	if err := os.WriteFile(filepath.Join(path, "f"), []byte("data"), 0o644); err != nil {
		t.Fatalf("write into the volume: %v", err)
	}
	if err := RemoveFilesystem(imagePath(path), path); err != nil {
		t.Fatalf("RemoveFilesystem: %v", err)
	}
	for _, p := range []string{path, imagePath(path)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after RemoveFilesystem: %v; want it gone", p, err)
		}
	}
	if out, err := exec.Command("losetup", "--associated", imagePath(path)).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("loop devices of the image after RemoveFilesystem: %q (%v); want none", out, err)
	}
}
