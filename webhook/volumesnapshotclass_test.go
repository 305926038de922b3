package webhook

import (
	"testing"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ruleClass(name, driver string, isDefault bool, params map[string]string) *snapv1.VolumeSnapshotClass {
	c := &snapv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Driver: driver, Parameters: params, DeletionPolicy: snapv1.VolumeSnapshotContentRetain}
	if isDefault {
		c.Annotations = map[string]string{AnnotationDefaultClass: "true"}
	}
	return c
}

func TestVolumeSnapshotClassRules(t *testing.T) {
	t.Parallel()
	const lh = DefaultLonghornDriver
	existing := map[string]*snapv1.VolumeSnapshotClass{
		"longhorn-default": ruleClass("longhorn-default", lh, true, nil),
		"longhorn-snap":    ruleClass("longhorn-snap", lh, false, nil),
		"hostpath-default": ruleClass("hostpath-default", "hostpath.csi.k8s.io", true, nil),
	}
	const defaultPath = "metadata.annotations[snapshot.storage.kubernetes.io/is-default-class]"
	tests := []struct {
		name     string
		unknown  bool
		existing map[string]*snapv1.VolumeSnapshotClass
		class    *snapv1.VolumeSnapshotClass
		old      *snapv1.VolumeSnapshotClass
		want     ruleVerdict
	}{
		{name: "first default of a driver", existing: map[string]*snapv1.VolumeSnapshotClass{"hostpath-default": existing["hostpath-default"]},
			class: ruleClass("longhorn-backup", lh, true, map[string]string{"type": "bak"})},
		{name: "second default of a driver", existing: existing, class: ruleClass("longhorn-backup", lh, true, nil),
			want: ruleVerdict{Causes: []string{defaultPath + `: Forbidden: driver "driver.longhorn.io" already has the default VolumeSnapshotClass "longhorn-default"; expected at most one default class per driver: remove the annotation here or there`}}},
		{name: "re-applying the default class itself", existing: existing, class: ruleClass("longhorn-default", lh, true, nil)},
		{name: "not a default", existing: existing, class: ruleClass("longhorn-backup", lh, false, nil)},
		{name: "update that keeps an existing default (ratchet)", existing: existing,
			class: ruleClass("longhorn-other", lh, true, map[string]string{"x": "1"}), old: ruleClass("longhorn-other", lh, true, nil)},
		{name: "update making a class a second default", existing: existing,
			class: ruleClass("longhorn-snap", lh, true, nil), old: ruleClass("longhorn-snap", lh, false, nil),
			want: ruleVerdict{Causes: []string{defaultPath + `: Forbidden: driver "driver.longhorn.io" already has the default VolumeSnapshotClass "longhorn-default"; expected at most one default class per driver: remove the annotation here or there`}}},
		{name: "other defaults unknown offline", unknown: true, class: ruleClass("longhorn-backup", lh, true, nil),
			want: ruleVerdict{Warnings: []string{defaultPath + `: could not check that driver "driver.longhorn.io" has no other default VolumeSnapshotClass; at most one may be the default`}}},
		{name: "second default known offline", unknown: true, existing: existing, class: ruleClass("longhorn-backup", lh, true, nil),
			want: ruleVerdict{Causes: []string{defaultPath + `: Forbidden: driver "driver.longhorn.io" already has the default VolumeSnapshotClass "longhorn-default"; expected at most one default class per driver: remove the annotation here or there`}}},
		{name: "Longhorn types", class: ruleClass("c", lh, false, map[string]string{"type": "snap"})},
		{name: "Longhorn backing image type", class: ruleClass("c", lh, false, map[string]string{"type": "bi"})},
		{name: "Longhorn backup modes", class: ruleClass("c", lh, false, map[string]string{"type": "bak", "backupMode": "full"})},
		{name: "Longhorn unknown type", class: ruleClass("c", lh, false, map[string]string{"type": "backup"}),
			want: ruleVerdict{Causes: []string{`parameters[type]: Unsupported value: "backup": supported values: "snap", "bak", "bi"`}}},
		{name: "Longhorn legacy type", class: ruleClass("c", lh, false, map[string]string{"type": "bs"}),
			want: ruleVerdict{Warnings: []string{"parameters[type]: bs is deprecated; write bak"}}},
		{name: "Longhorn unknown backup mode", class: ruleClass("c", lh, false, map[string]string{"type": "bak", "backupMode": "Full"}),
			want: ruleVerdict{Causes: []string{`parameters[backupMode]: Unsupported value: "Full": supported values: "incremental", "full"`}}},
		{name: "update keeping an unknown type", class: ruleClass("c", lh, false, map[string]string{"type": "backup", "x": "y"}),
			old: ruleClass("c", lh, false, map[string]string{"type": "backup"})},
		{name: "other drivers' parameters are theirs", class: ruleClass("c", "hostpath.csi.k8s.io", false, map[string]string{"type": "backup"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkRule(t, factStore{unknown: tt.unknown, classes: tt.existing}, HandlerOptions{}, tt.class, tt.old, tt.want)
		})
	}
}
