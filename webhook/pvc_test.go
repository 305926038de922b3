package webhook

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func rulePVC(snapshot, request string, edit func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	group := snapv1.GroupName
	p := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "restored"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("longhorn"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}},
			DataSource:       &corev1.TypedLocalObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: snapshot},
			DataSourceRef:    &corev1.TypedObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: snapshot},
		},
	}
	if edit != nil {
		edit(p)
	}
	return p
}

func TestPersistentVolumeClaimRules(t *testing.T) {
	t.Parallel()
	snap := func(name, content, size string) *snapv1.VolumeSnapshot {
		s := ruleSnapshot(func(s *snapv1.VolumeSnapshot) {
			s.Name = name
			s.Spec.Source.VolumeSnapshotContentName = ptr.To(content)
		})
		if size != "" {
			s.Status = &snapv1.VolumeSnapshotStatus{RestoreSize: ptr.To(resource.MustParse(size))}
		}
		return s
	}
	content := func(name, snapshot, driver, handle string) *snapv1.VolumeSnapshotContent {
		return ruleContent(name, func(c *snapv1.VolumeSnapshotContent) {
			c.Spec.VolumeSnapshotRef.Name = snapshot
			c.Spec.Driver = driver
			c.Spec.Source.SnapshotHandle = ptr.To(handle)
		})
	}
	facts := factStore{
		snapshots: map[string]*snapv1.VolumeSnapshot{
			"apps/sized":    snap("sized", "c-sized", "2Gi"),
			"apps/backup":   snap("backup", "c-backup", ""),
			"apps/hostpath": snap("hostpath", "c-hostpath", ""),
			"apps/nosc":     snap("nosc", "c-nosc", ""),
		},
		contents: map[string]*snapv1.VolumeSnapshotContent{
			"c-sized":    content("c-sized", "sized", DefaultLonghornDriver, "bak://vol-a/backup-1"),
			"c-backup":   content("c-backup", "backup", DefaultLonghornDriver, "bak://vol-a/backup-big"),
			"c-hostpath": content("c-hostpath", "hostpath", "hostpath.csi.k8s.io", "this-handle"),
			"c-nosc":     content("c-nosc", "nosc", DefaultLonghornDriver, "bak://vol-a/backup-1"),
		},
		storageClasses: map[string]*storagev1.StorageClass{
			"longhorn": {ObjectMeta: metav1.ObjectMeta{Name: "longhorn"}, Provisioner: DefaultLonghornDriver},
		},
	}
	offline := facts
	offline.unknown = true
	offline.snapshots = nil
	const requestPath = "spec.resources.requests[storage]"
	tests := []struct {
		name  string
		facts factStore
		pvc   *corev1.PersistentVolumeClaim
		old   *corev1.PersistentVolumeClaim
		want  ruleVerdict
	}{
		{name: "restore at the restore size", facts: facts, pvc: rulePVC("sized", "2Gi", nil)},
		{name: "restore above the restore size", facts: facts, pvc: rulePVC("sized", "3Gi", nil)},
		{name: "request below the restore size", facts: facts, pvc: rulePVC("sized", "1Gi", nil),
			want: ruleVerdict{Causes: []string{requestPath + `: Invalid value: "1Gi": below the restore size 2Gi of VolumeSnapshot apps/sized; expected at least 2Gi`}}},
		{name: "request below the backup's size before the snapshot is ready", facts: facts, pvc: rulePVC("backup", "1Gi", nil),
			want: ruleVerdict{Causes: []string{requestPath + `: Invalid value: "1Gi": below the size 3Gi of backup bak://vol-a/backup-big that VolumeSnapshot apps/backup restores; expected at least 3Gi`}}},
		{name: "request at the backup's size", facts: facts, pvc: rulePVC("backup", "3Gi", nil)},
		{name: "StorageClass of another driver", facts: facts, pvc: rulePVC("hostpath", "1Gi", nil),
			want: ruleVerdict{Causes: []string{`spec.storageClassName: Invalid value: "longhorn": StorageClass "longhorn" has provisioner "driver.longhorn.io", but VolumeSnapshot apps/hostpath is of VolumeSnapshotContent "c-hostpath" with driver "hostpath.csi.k8s.io"; expected a StorageClass whose provisioner is "hostpath.csi.k8s.io"`}}},
		{name: "StorageClass does not exist", facts: facts, pvc: rulePVC("nosc", "2Gi", func(p *corev1.PersistentVolumeClaim) { p.Spec.StorageClassName = ptr.To("fast") }),
			want: ruleVerdict{Warnings: []string{`spec.storageClassName: StorageClass "fast" does not exist; the claim stays Pending until it does (its provisioner must be "driver.longhorn.io")`}}},
		{name: "no StorageClass named", facts: facts, pvc: rulePVC("hostpath", "1Gi", func(p *corev1.PersistentVolumeClaim) { p.Spec.StorageClassName = nil })},
		{name: "snapshot does not exist", facts: facts, pvc: rulePVC("later", "1Gi", nil),
			want: ruleVerdict{Warnings: []string{`spec.dataSource.name: VolumeSnapshot apps/later does not exist; the claim stays Pending until it does`}}},
		{name: "snapshot unknown offline", facts: offline, pvc: rulePVC("sized", "1Gi", nil),
			want: ruleVerdict{Warnings: []string{`spec.dataSource.name: VolumeSnapshot apps/sized could not be looked up; it must exist in namespace "apps"`}}},
		{name: "dataSource without apiGroup", facts: facts, pvc: rulePVC("sized", "1Gi", func(p *corev1.PersistentVolumeClaim) {
			p.Spec.DataSource.APIGroup, p.Spec.DataSourceRef.APIGroup = nil, nil
		}), want: ruleVerdict{Causes: []string{`spec.dataSource.apiGroup: Required value: ` + apiGroupMessage}}},
		{name: "dataSourceRef only, wrong apiGroup", facts: facts, pvc: rulePVC("sized", "1Gi", func(p *corev1.PersistentVolumeClaim) {
			p.Spec.DataSource = nil
			p.Spec.DataSourceRef.APIGroup = ptr.To("snapshot.storage.k8s.io/v1")
		}), want: ruleVerdict{Causes: []string{`spec.dataSourceRef.apiGroup: Invalid value: "snapshot.storage.k8s.io/v1": ` + apiGroupMessage}}},
		{name: "dataSourceRef only, below the restore size", facts: facts, pvc: rulePVC("sized", "1Gi", func(p *corev1.PersistentVolumeClaim) { p.Spec.DataSource = nil }),
			want: ruleVerdict{Causes: []string{requestPath + `: Invalid value: "1Gi": below the restore size 2Gi of VolumeSnapshot apps/sized; expected at least 2Gi`}}},
		{name: "cloning a PVC is not a restore", facts: facts, pvc: rulePVC("x", "1Gi", func(p *corev1.PersistentVolumeClaim) {
			p.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "data"}
			p.Spec.DataSourceRef = nil
		})},
		{name: "empty PVC", facts: facts, pvc: rulePVC("x", "1Gi", func(p *corev1.PersistentVolumeClaim) { p.Spec.DataSource, p.Spec.DataSourceRef = nil, nil })},
		{name: "update is not judged (data source is immutable)", facts: facts, pvc: rulePVC("sized", "1Gi", nil), old: rulePVC("sized", "1Gi", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := HandlerOptions{Backups: fakeBackups{"backup-big": 3 << 30, "backup-1": 1 << 30}}
			checkRule(t, tt.facts, opts, tt.pvc, tt.old, tt.want)
		})
	}
}

// TestDryRunOfBareReference: on a dry run the mutating webhook points an annotated object at
// an object it does not create; the rules then skip only that "does not exist" warning.
func TestDryRunOfBareReference(t *testing.T) {
	t.Parallel()
	annotate := func(o metav1.Object) {
		o.SetAnnotations(map[string]string{AnnotationBackup: "vol-a/backup-1"})
	}
	snapTo := func(content string, annotated bool) *snapv1.VolumeSnapshot {
		return ruleSnapshot(func(s *snapv1.VolumeSnapshot) {
			s.Spec.Source.VolumeSnapshotContentName = ptr.To(content)
			if annotated {
				annotate(s)
			}
		})
	}
	pvcOf := func(snapshot string, annotated bool) *corev1.PersistentVolumeClaim {
		return rulePVC(snapshot, "1Gi", func(p *corev1.PersistentVolumeClaim) {
			if annotated {
				annotate(p)
			}
		})
	}
	const (
		contentWarning = `spec.source.volumeSnapshotContentName: VolumeSnapshotContent "later" does not exist yet; the snapshot stays unbound until it is created with spec.volumeSnapshotRef apps/restore-1`
		pvcWarning     = `spec.dataSource.name: VolumeSnapshot apps/restored does not exist; the claim stays Pending until it does`
		otherWarning   = `spec.dataSource.name: VolumeSnapshot apps/other does not exist; the claim stays Pending until it does`
	)
	tests := []struct {
		name   string
		dryRun bool
		obj    runtime.Object
		want   ruleVerdict
	}{
		{"snapshot, dry run, annotated", true, snapTo("later", true), ruleVerdict{}},
		{"snapshot, dry run, not annotated", true, snapTo("later", false), ruleVerdict{Warnings: []string{contentWarning}}},
		{"snapshot, real, annotated", false, snapTo("later", true), ruleVerdict{Warnings: []string{contentWarning}}},
		{"pvc, dry run, annotated", true, pvcOf("restored", true), ruleVerdict{}},
		{"pvc, dry run, annotated, another snapshot", true, pvcOf("other", true), ruleVerdict{Warnings: []string{otherWarning}}},
		{"pvc, dry run, not annotated", true, pvcOf("restored", false), ruleVerdict{Warnings: []string{pvcWarning}}},
		{"pvc, real, annotated", false, pvcOf("restored", true), ruleVerdict{Warnings: []string{pvcWarning}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: admissionv1.Create, DryRun: ptr.To(tt.dryRun)}})
			errs, warnings, _ := NewRules(factStore{}, HandlerOptions{}).Validate(ctx, tt.obj, nil)
			if diff := cmp.Diff(tt.want, ruleVerdictOf(errs, warnings)); diff != "" {
				t.Errorf("ruleVerdict (-want +got):\n%s", diff)
			}
		})
	}
}
