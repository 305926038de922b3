package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The suite's StorageClasses and the provisioner name they carry: an external
// provisioner, as a CSI driver's would be, so the PV controller hands their
// claims to provisioner below and the populator treats them as any other class.
const (
	className       = "loop"
	wfcClassName    = "loop-wfc"
	provisionerName = "loop.snaprestore.test"
	annProvisioner  = "volume.kubernetes.io/storage-provisioner"
	annSelectedNode = "volume.kubernetes.io/selected-node"
	// annDevice and annImage on a PV name the loop device and its backing
	// file, so the PV's deletion detaches and removes exactly those.
	annDevice = "loop.snaprestore.test/device"
	annImage  = "loop.snaprestore.test/image"
)

// provisioner backs claims of the suite's classes with local PVs on loop
// devices over sparse files in dir: what a node's local-volume provisioner
// does with disks (sig-storage-local-static-provisioner). Block claims get
// the raw device; Filesystem claims get the device formatted ext4 and mounted
// under dir/mnt, the mount point being the PV's path, as that provisioner's
// discovery directory holds one mounted disk per PV. PVs are reclaimed with
// Delete: a Released PV is unmounted, detached, its file removed and the PV
// deleted. It lists claims and volumes every 300 ms (a test needs no informer).
type provisioner struct {
	c   client.Client
	dir string

	mu    sync.Mutex
	loops []string // devices attached and not yet detached, for the teardown
	err   error    // the first provisioning error, reported by the tests
}

func storageClasses() []*storagev1.StorageClass {
	var out []*storagev1.StorageClass
	for name, mode := range map[string]storagev1.VolumeBindingMode{
		className: storagev1.VolumeBindingImmediate, wfcClassName: storagev1.VolumeBindingWaitForFirstConsumer,
	} {
		out = append(out, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisionerName,
			ReclaimPolicy: new(corev1.PersistentVolumeReclaimDelete), VolumeBindingMode: &mode})
	}
	return out
}

func (p *provisioner) run(ctx context.Context) {
	for {
		err := errors.Join(p.pass(ctx), p.reclaim(ctx))
		if err != nil && ctx.Err() == nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = err
			}
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (p *provisioner) firstError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *provisioner) pass(ctx context.Context) error {
	var pvcs corev1.PersistentVolumeClaimList
	if err := p.c.List(ctx, &pvcs); err != nil {
		return err
	}
	for i := range pvcs.Items {
		pvc := &pvcs.Items[i]
		// A claim with a data source is the populator's to fill (through its
		// prime claim), as external-provisioner skips unknown sources. The PV
		// controller names the provisioner only once a WaitForFirstConsumer
		// claim has its selected node.
		if pvc.Spec.VolumeName != "" || pvc.Annotations[annProvisioner] != provisionerName ||
			pvc.Spec.DataSourceRef != nil || pvc.DeletionTimestamp != nil {
			continue
		}
		if err := p.provision(ctx, pvc); err != nil {
			return fmt.Errorf("provision %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
	}
	return nil
}

// provision makes a loop device of the claim's size and a local PV pre-bound
// to it on the node; the PV controller completes the binding.
func (p *provisioner) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if node := pvc.Annotations[annSelectedNode]; node != "" && node != nodeName {
		return fmt.Errorf("annotation %s is %q; expected the suite's only node %q", annSelectedNode, node, nodeName)
	}
	name := "pv-" + string(pvc.UID)
	var existing corev1.PersistentVolume
	if err := p.c.Get(ctx, client.ObjectKey{Name: name}, &existing); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	img := filepath.Join(p.dir, name+".img")
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	dev, err := attachLoop(img, size.Value())
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.loops = append(p.loops, dev)
	p.mu.Unlock()
	mode := corev1.PersistentVolumeFilesystem
	if pvc.Spec.VolumeMode != nil {
		mode = *pvc.Spec.VolumeMode
	}
	path := dev
	if mode == corev1.PersistentVolumeFilesystem {
		if path, err = p.mountExt4(name, dev); err != nil {
			return err
		}
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			"pv.kubernetes.io/provisioned-by": provisionerName, annDevice: dev, annImage: img}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   pvc.Spec.AccessModes,
			VolumeMode:                    &mode,
			StorageClassName:              *pvc.Spec.StorageClassName,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{nodeName}}},
			}}}},
		},
	}
	return p.c.Create(ctx, pv)
}

// mountPoint is where the Filesystem PV name is mounted.
// attachLoop creates img, a sparse file of size bytes (as a thin-provisioned
// disk starts), and attaches a loop device to it.
func attachLoop(img string, size int64) (string, error) {
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		return "", err
	}
	if err := os.Truncate(img, size); err != nil {
		return "", err
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("losetup -f --show %s: %w: %s", img, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (p *provisioner) mountPoint(name string) string { return filepath.Join(p.dir, "mnt", name) }

// mountExt4 formats dev ext4 and mounts it at the PV's mount point.
func (p *provisioner) mountExt4(name, dev string) (string, error) {
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mkfs.ext4 %s: %w: %s", dev, err, out)
	}
	mnt := p.mountPoint(name)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("mount", "-t", "ext4", dev, mnt).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mount %s %s: %w: %s", dev, mnt, err, out)
	}
	return mnt, nil
}

// reclaim deletes the Released PVs of the provisioner: unmount, detach the
// loop device, remove its file, delete the PV, as a CSI driver's DeleteVolume.
func (p *provisioner) reclaim(ctx context.Context) error {
	var pvs corev1.PersistentVolumeList
	if err := p.c.List(ctx, &pvs); err != nil {
		return err
	}
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		if pv.Annotations["pv.kubernetes.io/provisioned-by"] != provisionerName || pv.Status.Phase != corev1.VolumeReleased ||
			pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
			continue
		}
		if err := p.deleteVolume(ctx, pv); err != nil {
			return fmt.Errorf("delete PV %s: %w", pv.Name, err)
		}
	}
	return nil
}

func (p *provisioner) deleteVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	dev, img := pv.Annotations[annDevice], pv.Annotations[annImage]
	if pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeFilesystem {
		mnt := p.mountPoint(pv.Name)
		if err := syscall.Unmount(mnt, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("umount %s: %w", mnt, err)
		}
		if err := os.Remove(mnt); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := detachLoops(func(f string) bool { return f == img }, []string{dev}); err != nil {
		return err
	}
	p.mu.Lock()
	for i, d := range p.loops {
		if d == dev {
			p.loops = append(p.loops[:i], p.loops[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	if err := os.Remove(img); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := p.c.Delete(ctx, pv); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// devices returns the loop devices the provisioner attached and still holds.
func (p *provisioner) devices() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.loops...)
}

// traces lists what of the PV name is still on the node: loop devices backed
// by its file or stacked over its device, and its mount point mounted.
func (p *provisioner) traces(name, dev string) []string {
	var out []string
	img := filepath.Join(p.dir, name+".img")
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		back := strings.TrimSpace(string(b))
		if back == img || (dev != "" && back == dev) {
			out = append(out, "loop device /dev/"+filepath.Base(filepath.Dir(filepath.Dir(m)))+" over "+back)
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.Contains(f[4], name) {
				out = append(out, "mount "+f[4])
			}
		}
	}
	if _, err := os.Stat(img); err == nil {
		out = append(out, "file "+img)
	}
	return out
}
