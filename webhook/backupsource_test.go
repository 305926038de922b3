package webhook

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

func TestValidateBackupSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ backup, want string }{
		{"bak://vol-a/backup-1", ""},
		{"vol-a/backup-1", ""},
		{"s3://bucket@us-east-1/?backup=backup-1&volume=vol-a", ""},
		{"bak://vol-a", `spec.backup: Invalid value: "bak://vol-a": missing backup name; expected bak://<volume>/<backup>`},
		{"", `spec.backup: Invalid value: "": `},
	} {
		s := &v1alpha1.BackupSource{Spec: v1alpha1.BackupSourceSpec{Backup: tc.backup}}
		got := validateBackupSource(s, nil).ToAggregate()
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%q: %v; want allowed", tc.backup, got)
		case tc.want != "" && (got == nil || len(got.Error()) < len(tc.want) || got.Error()[:len(tc.want)] != tc.want):
			t.Errorf("%q: %v; want %q…", tc.backup, got, tc.want)
		}
	}
}

// TestValidateBackupSourceSecret: a BackupSource naming a Secret its creator
// may not get is denied on spec.backupstoreSecretRef.name, in words naming
// the user, the Secret and the authorizer's reason; one the creator may get,
// or none, is allowed.
func TestValidateBackupSourceSecret(t *testing.T) {
	t.Parallel()
	src := &v1alpha1.BackupSource{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "src"}, Spec: v1alpha1.BackupSourceSpec{
		Backup: "bak://vol-a/backup-1", BackupstoreSecretRef: &v1alpha1.LocalObjectReference{Name: "other-store"}}}
	for _, tc := range []struct {
		name    string
		verdict *secretVerdict
		want    string
	}{
		{"allowed", &secretVerdict{User: "alice", Allowed: true}, ""},
		{"denied", &secretVerdict{User: "alice"}, `spec.backupstoreSecretRef.name: Forbidden: user "alice" may not get Secret team-a/other-store, and the populator would restore with its credentials; expected a Secret you may get, or no backupstoreSecretRef for the release's backupstore`},
		{"denied with a reason", &secretVerdict{User: "alice", Reason: "no RBAC policy matched"}, `spec.backupstoreSecretRef.name: Forbidden: user "alice" may not get Secret team-a/other-store (no RBAC policy matched), and`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validateBackupSource(src, tc.verdict).ToAggregate()
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("%v; want allowed", got)
			case tc.want != "" && (got == nil || !strings.HasPrefix(got.Error(), tc.want)):
				t.Errorf("%v; want %q…", got, tc.want)
			}
		})
	}
}

func TestValidatePopulatedPVC(t *testing.T) {
	t.Parallel()
	claim := func(mode corev1.PersistentVolumeMode, req string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
			VolumeMode:    &mode,
			Resources:     corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(req)}},
			DataSourceRef: &corev1.TypedObjectReference{APIGroup: ptr.To(v1alpha1.Group), Kind: v1alpha1.Kind, Name: "src"},
		}}
	}
	size := resource.MustParse("64Mi")
	for _, tc := range []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		size *resource.Quantity
		want string
	}{
		{"Block below the backup", claim(corev1.PersistentVolumeBlock, "32Mi"), &size,
			`spec.resources.requests[storage]: Invalid value: "32Mi": below the size 64Mi of backup bak://vol-a/backup-1 that BackupSource /src restores; expected at least 64Mi`},
		{"Block equal", claim(corev1.PersistentVolumeBlock, "64Mi"), &size, ""},
		{"Filesystem below: room for the files only", claim(corev1.PersistentVolumeFilesystem, "32Mi"), &size, ""},
		{"size unknown", claim(corev1.PersistentVolumeBlock, "32Mi"), nil, ""},
	} {
		var got string
		if errs := validatePopulatedPVC(tc.pvc, "bak://vol-a/backup-1", tc.size); len(errs) > 0 {
			got = errs.ToAggregate().Error()
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
