package nodeagent

import (
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations and the finalizer of the PV controller / external-provisioner contract.
const (
	annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	annSelectedNode       = "volume.kubernetes.io/selected-node"
	annProvisionedBy      = "pv.kubernetes.io/provisioned-by"
	// provisionerFinalizer is the external-provisioner's: the backing volume is
	// deleted before the PV object goes.
	provisionerFinalizer = "external-provisioner.volume.kubernetes.io/finalizer"
	// pathAttribute is the CSI volume attribute holding the backing file or directory.
	pathAttribute = "path"
)

// provisionDecision says whether the agent provisions pvc of class, following the
// external-provisioner: only claims the PV controller handed to this provisioner
// (its annotation), not yet bound, of a class of this provisioner, for WFC only once
// the scheduler chose this node, and never a claim with a data source the
// provisioner does not implement (a populator's kind is exactly that: the claim is
// left to the populator). reason says why not, for the log.
func provisionDecision(pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, provisioner, node string) (bool, string) {
	switch {
	case pvc.DeletionTimestamp != nil:
		return false, "claim is being deleted"
	case pvc.Spec.VolumeName != "":
		return false, "claim names volume " + pvc.Spec.VolumeName
	case pvc.Annotations[annStorageProvisioner] != provisioner:
		return false, fmt.Sprintf("annotation %s is %q, not %q", annStorageProvisioner, pvc.Annotations[annStorageProvisioner], provisioner)
	case class == nil || class.Provisioner != provisioner:
		return false, "storage class is not of provisioner " + provisioner
	case pvc.Spec.DataSourceRef != nil || pvc.Spec.DataSource != nil:
		return false, "claim has a data source; the test provisioner implements none (populators handle their kinds)"
	}
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		if sel := pvc.Annotations[annSelectedNode]; sel != node {
			return false, fmt.Sprintf("annotation %s is %q, not this node %q", annSelectedNode, sel, node)
		}
	}
	if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		return false, "claim has no spec.resources.requests.storage"
	}
	return true, ""
}

// isBlock says whether pvc (or its PV) is a raw block volume.
func isBlock(mode *corev1.PersistentVolumeMode) bool {
	return mode != nil && *mode == corev1.PersistentVolumeBlock
}

// volumePath is where the PV named pv keeps its data under the agent's directory.
func volumePath(dir, pv string) string { return filepath.Join(dir, "volumes", pv) }

// newPV is the PV the agent provisions for pvc: named after the claim's UID (as the
// external-provisioner does), pre-bound to it, a CSI volume of the provisioner
// whose "path" attribute is the backing file (Block) or directory (Filesystem),
// reachable only on node.
func newPV(pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node, path string) *corev1.PersistentVolume {
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	mode := corev1.PersistentVolumeFilesystem
	if isBlock(pvc.Spec.VolumeMode) {
		mode = corev1.PersistentVolumeBlock
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + string(pvc.UID),
			Annotations: map[string]string{annProvisionedBy: class.Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes: pvc.Spec.AccessModes,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    &mode,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: class.Provisioner, VolumeHandle: path, VolumeAttributes: map[string]string{pathAttribute: path}}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname,
					Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}},
		},
	}
	if reclaim == corev1.PersistentVolumeReclaimDelete {
		pv.Finalizers = []string{provisionerFinalizer}
	}
	return pv
}

// pvAction is what the agent does with one of its PVs.
type pvAction int

const (
	pvKeep          pvAction = iota
	pvDeleteObject           // released with reclaim Delete: delete the PV object
	pvDeleteBacking          // being deleted with our finalizer: delete the data, drop the finalizer
	pvDropFinalizer          // being deleted, reclaim Retain: keep the data, drop the finalizer
)

// pvDecision is the external-provisioner's deletion rule for a PV of provisioner.
func pvDecision(pv *corev1.PersistentVolume, provisioner string) pvAction {
	if pv.Annotations[annProvisionedBy] != provisioner {
		return pvKeep
	}
	del := pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete
	if pv.DeletionTimestamp != nil {
		if !hasString(pv.Finalizers, provisionerFinalizer) {
			return pvKeep
		}
		if del {
			return pvDeleteBacking
		}
		return pvDropFinalizer
	}
	if del && pv.Status.Phase == corev1.VolumeReleased {
		return pvDeleteObject
	}
	return pvKeep
}

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
