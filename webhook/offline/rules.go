package offline

import (
	"context"
	"slices"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/snaprestore/snaprestore/webhook"
)

// validate runs the webhook's rules for one object (old is nil for CREATE), with the
// index as the only source of other objects. There is no backupstore offline: no backup
// pre-flight and no backup sizes.
func validate(ctx context.Context, o Options, ix *index, obj, old runtime.Object) (causes, warnings []string, covered bool) {
	rules := webhook.NewRules(ix, webhook.HandlerOptions{LonghornDrivers: o.LonghornDrivers, ProtectBackups: o.ProtectBackups})
	errs, warns, covered := rules.Validate(ctx, obj, old)
	for _, e := range errs {
		causes = append(causes, e.Error())
	}
	return causes, warns, covered
}

var _ webhook.Objects = (*index)(nil)

// presence is Found for an object in the files and Unknown otherwise: offline, nothing is
// ever known to be missing.
func presence[T any](m map[string]*T, k string) (*T, webhook.Presence) {
	if v, ok := m[k]; ok {
		return v, webhook.Found
	}
	return nil, webhook.Unknown
}

func (ix *index) Content(_ context.Context, name string) (*snapv1.VolumeSnapshotContent, webhook.Presence) {
	return presence(ix.contents, key("", name))
}

func (ix *index) Snapshot(_ context.Context, namespace, name string) (*snapv1.VolumeSnapshot, webhook.Presence) {
	return presence(ix.snapshots, key(namespace, name))
}

func (ix *index) Class(_ context.Context, name string) (*snapv1.VolumeSnapshotClass, webhook.Presence) {
	return presence(ix.classes, key("", name))
}

func (ix *index) StorageClass(_ context.Context, name string) (*storagev1.StorageClass, webhook.Presence) {
	return presence(ix.storageClasses, key("", name))
}

// DefaultClasses names the default classes of driver in the files; never complete, since
// the cluster may hold others.
func (ix *index) DefaultClasses(_ context.Context, driver string) ([]string, bool) {
	var names []string
	for _, c := range ix.classes {
		if c.Driver == driver && c.Annotations[webhook.AnnotationDefaultClass] == "true" {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	return names, false
}
