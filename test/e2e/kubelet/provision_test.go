package kubelet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The suite's StorageClass and the provisioner name it carries: an external
// provisioner, as a CSI driver's would be, so the PV controller hands its
// claims to provisioner below and the populator treats it as any other class.
const (
	className       = "loop"
	provisionerName = "loop.snaprestore.test"
	annProvisioner  = "volume.kubernetes.io/storage-provisioner"
)

// provisioner backs claims of className with local PVs on loop devices over
// sparse files in dir: what a real node's local-volume provisioner does with
// disks. It lists the claims every 300 ms (a test needs no informer).
type provisioner struct {
	c   client.Client
	dir string

	mu    sync.Mutex
	loops []string // devices it attached, detached by cleanup
	err   error    // the first provisioning error, reported by the test
}

func storageClass() *storagev1.StorageClass {
	mode := storagev1.VolumeBindingImmediate
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: className}, Provisioner: provisionerName,
		ReclaimPolicy: new(corev1.PersistentVolumeReclaimRetain), VolumeBindingMode: &mode}
}

func (p *provisioner) run(ctx context.Context) {
	for {
		if err := p.pass(ctx); err != nil && ctx.Err() == nil {
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
		// prime claim), as external-provisioner skips unknown sources.
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
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		return err
	}
	if err := os.Truncate(img, size.Value()); err != nil {
		return err
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		return fmt.Errorf("losetup -f --show %s: %w: %s", img, err, out)
	}
	dev := strings.TrimSpace(string(out))
	p.mu.Lock()
	p.loops = append(p.loops, dev)
	p.mu.Unlock()
	mode := corev1.PersistentVolumeFilesystem
	if pvc.Spec.VolumeMode != nil {
		mode = *pvc.Spec.VolumeMode
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   pvc.Spec.AccessModes,
			VolumeMode:                    &mode,
			StorageClassName:              className,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dev}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{nodeName}}},
			}}}},
		},
	}
	return p.c.Create(ctx, pv)
}

// devices returns the loop devices the provisioner attached.
func (p *provisioner) devices() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.loops...)
}
