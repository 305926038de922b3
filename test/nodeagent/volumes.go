package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podVolumes backs each volume of pod on the host: a PVC by its PV's file or
// directory (only PVs of this agent's provisioner), emptyDir by a fresh directory,
// secret and configMap by a directory of their files, hostPath by itself. Other
// kinds fail with ErrUnsupported; a missing object is an error the caller retries.
func (k *kubelet) podVolumes(ctx context.Context, pod *corev1.Pod, podDir string) (map[string]hostVolume, error) {
	vols := map[string]hostVolume{}
	for i, v := range pod.Spec.Volumes {
		fp := field.NewPath("spec", "volumes").Index(i)
		dir := filepath.Join(podDir, "volumes", v.Name)
		var hv hostVolume
		var err error
		switch {
		case v.PersistentVolumeClaim != nil:
			hv, err = k.claimVolume(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName, fp)
		case v.EmptyDir != nil:
			hv, err = hostVolume{path: dir}, os.MkdirAll(dir, 0o777)
		case v.Secret != nil:
			var s corev1.Secret
			err = k.objects(ctx, pod.Namespace, v.Secret.SecretName, &s, isTrue(v.Secret.Optional))
			hv = hostVolume{path: dir}
			if err == nil {
				err = writeFiles(dir, s.Data, v.Secret.Items, v.Secret.DefaultMode)
			}
		case v.ConfigMap != nil:
			var cm corev1.ConfigMap
			err = k.objects(ctx, pod.Namespace, v.ConfigMap.Name, &cm, isTrue(v.ConfigMap.Optional))
			hv = hostVolume{path: dir}
			if err == nil {
				data := map[string][]byte{}
				for key, val := range cm.Data {
					data[key] = []byte(val)
				}
				for key, val := range cm.BinaryData {
					data[key] = val
				}
				err = writeFiles(dir, data, v.ConfigMap.Items, v.ConfigMap.DefaultMode)
			}
		case v.HostPath != nil:
			hv = hostVolume{path: v.HostPath.Path}
		default:
			err = fmt.Errorf("%s: volume %q: only persistentVolumeClaim, emptyDir, secret, configMap and hostPath are implemented: %w", fp, v.Name, ErrUnsupported)
		}
		if err != nil {
			return nil, err
		}
		vols[v.Name] = hv
	}
	return vols, nil
}

// bound: the claim names its volume and is Bound.
func bound(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc.Spec.VolumeName != "" && pvc.Status.Phase == corev1.ClaimBound
}

// claimVolume is the backing of a bound claim whose PV this agent provisioned.
func (k *kubelet) claimVolume(ctx context.Context, ns, name string, fp *field.Path) (hostVolume, error) {
	// The scheduler places a pod once it sees the claim bound, which the
	// agent's cache may not show yet: a claim or volume the cache does not
	// show ready is read again from the API server before the pod waits.
	var pvc corev1.PersistentVolumeClaim
	key := client.ObjectKey{Namespace: ns, Name: name}
	err := k.c.Get(ctx, key, &pvc)
	if err != nil || !bound(&pvc) {
		err = k.api.Get(ctx, key, &pvc)
	}
	if err != nil {
		return hostVolume{}, fmt.Errorf("%s: claim %s/%s: %w", fp, ns, name, err)
	}
	if !bound(&pvc) {
		return hostVolume{}, fmt.Errorf("%s: claim %s/%s is %s, expected Bound", fp, ns, name, pvc.Status.Phase)
	}
	var pv corev1.PersistentVolume
	pvKey := client.ObjectKey{Name: pvc.Spec.VolumeName}
	err = k.c.Get(ctx, pvKey, &pv)
	if apierrors.IsNotFound(err) {
		err = k.api.Get(ctx, pvKey, &pv)
	}
	if err != nil {
		return hostVolume{}, fmt.Errorf("%s: volume %s of claim %s/%s: %w", fp, pvc.Spec.VolumeName, ns, name, err)
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != k.provisioner {
		return hostVolume{}, fmt.Errorf("%s: volume %s of claim %s/%s is not a volume of provisioner %s: %w", fp, pv.Name, ns, name, k.provisioner, ErrUnsupported)
	}
	return hostVolume{path: pv.Spec.CSI.VolumeAttributes[pathAttribute], block: isBlock(pv.Spec.VolumeMode)}, nil
}

// objects reads a Secret or ConfigMap straight from the API server (the agent caches
// neither); an optional one that does not exist reads as empty.
func (k *kubelet) objects(ctx context.Context, ns, name string, obj client.Object, optional bool) error {
	err := k.api.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
	if optional && client.IgnoreNotFound(err) == nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %T %s/%s: %w", obj, ns, name, err)
	}
	return nil
}

// writeFiles materializes a secret or configMap volume: every key, or only items.
func writeFiles(dir string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32) error {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	if len(items) == 0 {
		for _, key := range sortedKeys(data) {
			items = append(items, corev1.KeyToPath{Key: key, Path: key})
		}
	}
	for _, it := range items {
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		val, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("volume item %q: key not found", it.Key)
		}
		p := filepath.Join(dir, filepath.Clean("/"+it.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, val, m); err != nil {
			return err
		}
	}
	return nil
}

// envSources reads the Secrets and ConfigMaps of the pod's namespace, which env
// and envFrom may name (a test namespace holds few).
func (k *kubelet) envSources(ctx context.Context, ns string) (envSources, error) {
	src := envSources{secrets: map[string]map[string][]byte{}, configMaps: map[string]map[string]string{}}
	var secrets corev1.SecretList
	var cms corev1.ConfigMapList
	if err := errors.Join(k.api.List(ctx, &secrets, client.InNamespace(ns)), k.api.List(ctx, &cms, client.InNamespace(ns))); err != nil {
		return src, fmt.Errorf("read secrets and configmaps of namespace %s: %w", ns, err)
	}
	for _, s := range secrets.Items {
		src.secrets[s.Name] = s.Data
	}
	for _, cm := range cms.Items {
		src.configMaps[cm.Name] = cm.Data
	}
	return src, nil
}
