package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// claims provisions PVs for claims: the external-provisioner's half of dynamic
// provisioning (the PV controller binds what it creates).
type claims struct {
	c                 client.Client
	provisioner, node string
	dir               string
	mount             bool // Filesystem volumes are NewFilesystem's
}

func (r *claims) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pvc corev1.PersistentVolumeClaim
	if err := r.c.Get(ctx, req.NamespacedName, &pvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	var class *storagev1.StorageClass
	if name := pvc.Spec.StorageClassName; name != nil && *name != "" {
		class = &storagev1.StorageClass{}
		if err := r.c.Get(ctx, client.ObjectKey{Name: *name}, class); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
	}
	ok, why := provisionDecision(&pvc, class, r.provisioner, r.node)
	log := logf.FromContext(ctx)
	if !ok {
		log.V(1).Info("Not provisioning", "reason", why)
		return reconcile.Result{}, nil
	}
	pv := newPV(&pvc, class, r.node, volumePath(r.dir, "pvc-"+string(pvc.UID)))
	if err := makeBacking(pv, r.mount); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.c.Create(ctx, pv); err != nil && !apierrors.IsAlreadyExists(err) {
		return reconcile.Result{}, fmt.Errorf("create PV %s for claim %s: %w", pv.Name, req, err)
	}
	log.Info("Provisioned", "volume", pv.Name, "path", pv.Spec.CSI.VolumeAttributes[pathAttribute])
	return reconcile.Result{}, nil
}

// makeBacking creates the PV's data: a sparse file of the capacity (Block) or a
// directory anyone may write (Filesystem), with mount a fresh filesystem of
// the capacity mounted there. It is idempotent.
func makeBacking(pv *corev1.PersistentVolume, mount bool) error {
	path := pv.Spec.CSI.VolumeAttributes[pathAttribute]
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create volumes directory of PV %s: %w", pv.Name, err)
	}
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	if !isBlock(pv.Spec.VolumeMode) {
		if mount {
			if err := NewFilesystem(imagePath(path), path, size.Value()); err != nil {
				return fmt.Errorf("filesystem of PV %s: %w", pv.Name, err)
			}
			return nil
		}
		if err := os.MkdirAll(path, 0o777); err != nil {
			return fmt.Errorf("create directory of PV %s: %w", pv.Name, err)
		}
		return os.Chmod(path, 0o777)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return fmt.Errorf("create block file of PV %s: %w", pv.Name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
		return err
	}
	if err := f.Truncate(size.Value()); err != nil {
		return fmt.Errorf("size block file of PV %s to %s: %w", pv.Name, size.String(), err)
	}
	return nil
}

// volumes deletes the data of released PVs with reclaim policy Delete.
type volumes struct {
	c                client.Client
	provisioner, dir string
}

func (r *volumes) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pv corev1.PersistentVolume
	if err := r.c.Get(ctx, req.NamespacedName, &pv); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	switch pvDecision(&pv, r.provisioner) {
	case pvDeleteObject:
		logf.FromContext(ctx).Info("Deleting released volume")
		return reconcile.Result{}, client.IgnoreNotFound(r.c.Delete(ctx, &pv))
	case pvDeleteBacking:
		// Only data the agent made is deleted, whatever the PV object says.
		if path := volumePath(r.dir, pv.Name); pv.Spec.CSI != nil && pv.Spec.CSI.VolumeAttributes[pathAttribute] == path {
			if err := RemoveFilesystem(imagePath(path), path); err != nil {
				return reconcile.Result{}, fmt.Errorf("delete data of PV %s: %w", pv.Name, err)
			}
		}
		fallthrough
	case pvDropFinalizer:
		controllerutil.RemoveFinalizer(&pv, provisionerFinalizer)
		return reconcile.Result{}, client.IgnoreNotFound(r.c.Update(ctx, &pv))
	}
	return reconcile.Result{}, nil
}
