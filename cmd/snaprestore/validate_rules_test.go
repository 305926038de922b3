package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/restore"
)

// grammar is the handle grammar's "problem; expected form" for a bad handle.
func grammar(t *testing.T, handle string) string {
	t.Helper()
	_, err := restore.ParseHandle(handle)
	var he *restore.HandleError
	if !errors.As(err, &he) {
		t.Fatalf("ParseHandle(%q) = %v, want a *restore.HandleError", handle, err)
	}
	return he.Problem + "; expected " + he.Expected
}

// validateRulesFiles writes TestValidateRules' manifests into a directory:
// pairs that bind or not, two default classes, and a content before and after
// an update.
func validateRulesFiles(t *testing.T) string {
	t.Helper()
	const (
		content = `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotContent
metadata: {name: restore-content}
spec:
  deletionPolicy: %s
  driver: driver.longhorn.io
  source: {snapshotHandle: %s}
  volumeSnapshotRef: {name: %s, namespace: apps}
`
		snapshot = `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: restore-snap, namespace: apps}
spec:
  source: {volumeSnapshotContentName: restore-content}
`
		class = `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata:
  name: %s
  annotations: {snapshot.storage.kubernetes.io/is-default-class: "true"}
driver: driver.longhorn.io
deletionPolicy: Retain
`
	)
	return writeFiles(t, map[string]string{
		"bound-elsewhere.yaml": fmt.Sprintf(content, "Retain", "bak://vol-a/backup-1", "other-snap") + "---\n" + snapshot,
		"matching.yaml":        fmt.Sprintf(content, "Delete", "bs://vol-a/backup-1", "restore-snap") + "---\n" + snapshot,
		"snapshot-only.yaml":   snapshot,
		"two-defaults.yaml":    fmt.Sprintf(class, "longhorn-a") + "---\n" + fmt.Sprintf(class, "longhorn-b"),
		"old-content.yaml":     fmt.Sprintf(content, "Retain", "bak://Vol-A/backup-1", "restore-snap"),
		"new-content.yaml":     "# labels added\n" + strings.Replace(fmt.Sprintf(content, "Retain", "bak://Vol-A/backup-1", "restore-snap"), "metadata: {name: restore-content}", "metadata: {name: restore-content, labels: {team: a}}", 1),
	})
}

// TestValidateRules runs the webhook's rules through the command: cross-object checks see
// the other objects of the files, objects not in them are unknown (warnings), and the exit
// status says whether anything was denied.
func TestValidateRules(t *testing.T) {
	t.Parallel()
	dir := validateRulesFiles(t)
	f := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantCode int
	}{
		{"content bound elsewhere", []string{"-f", f("bound-elsewhere.yaml")}, `volumesnapshotcontent restore-content: allowed [` + f("bound-elsewhere.yaml") + `:1]
volumesnapshot apps/restore-snap: denied [` + f("bound-elsewhere.yaml") + `:10]
  - spec.source.volumeSnapshotContentName: Invalid value: "restore-content": VolumeSnapshotContent "restore-content" has spec.volumeSnapshotRef apps/other-snap, but this VolumeSnapshot is apps/restore-snap, so the two never bind; expected a content whose spec.volumeSnapshotRef is namespace "apps", name "restore-snap"
2 objects: 1 allowed, 1 denied, 0 skipped
`, 1},
		{"matching pair with warnings", []string{"-f", f("matching.yaml")}, `volumesnapshotcontent restore-content: allowed [` + f("matching.yaml") + `:1]
  Warning: spec.source.snapshotHandle: bs:// is deprecated; write bak://vol-a/backup-1
  Warning: spec.deletionPolicy: Delete deletes backup bak://vol-a/backup-1 from the backupstore when the VolumeSnapshot is deleted; set Retain to keep the backup
volumesnapshot apps/restore-snap: allowed [` + f("matching.yaml") + `:10]
2 objects: 2 allowed, 0 denied, 0 skipped
`, 0},
		{"protect backups", []string{"-f", f("matching.yaml"), "--protect-backups"}, `volumesnapshotcontent restore-content: denied [` + f("matching.yaml") + `:1]
  - spec.deletionPolicy: Invalid value: "Delete": deleting the VolumeSnapshot would delete backup bak://vol-a/backup-1 from the backupstore, and backups are protected (--protect-backups); expected Retain
  Warning: spec.source.snapshotHandle: bs:// is deprecated; write bak://vol-a/backup-1
volumesnapshot apps/restore-snap: allowed [` + f("matching.yaml") + `:10]
2 objects: 1 allowed, 1 denied, 0 skipped
`, 1},
		{"content not in the files is unknown", []string{"-f", f("snapshot-only.yaml")}, `volumesnapshot apps/restore-snap: allowed [` + f("snapshot-only.yaml") + `:1]
  Warning: spec.source.volumeSnapshotContentName: VolumeSnapshotContent "restore-content" could not be looked up; its spec.volumeSnapshotRef must be apps/restore-snap for the snapshot to bind
1 objects: 1 allowed, 0 denied, 0 skipped
`, 0},
		{"two default classes", []string{"-f", f("two-defaults.yaml")}, `volumesnapshotclass longhorn-a: denied [` + f("two-defaults.yaml") + `:1]
  - metadata.annotations[snapshot.storage.kubernetes.io/is-default-class]: Forbidden: driver "driver.longhorn.io" already has the default VolumeSnapshotClass "longhorn-b"; expected at most one default class per driver: remove the annotation here or there
volumesnapshotclass longhorn-b: denied [` + f("two-defaults.yaml") + `:9]
  - metadata.annotations[snapshot.storage.kubernetes.io/is-default-class]: Forbidden: driver "driver.longhorn.io" already has the default VolumeSnapshotClass "longhorn-a"; expected at most one default class per driver: remove the annotation here or there
2 objects: 0 allowed, 2 denied, 0 skipped
`, 1},
		{"create with a bad handle", []string{"-f", f("new-content.yaml")}, `volumesnapshotcontent restore-content: denied [` + f("new-content.yaml") + `:1]
  - spec.source.snapshotHandle: Invalid value: "bak://Vol-A/backup-1": ` + grammar(t, "bak://Vol-A/backup-1") + `
1 objects: 0 allowed, 1 denied, 0 skipped
`, 1},
		{"update keeping a bad handle", []string{"-f", f("new-content.yaml"), "--old", f("old-content.yaml")}, `volumesnapshotcontent restore-content: allowed (update) [` + f("new-content.yaml") + `:1]
1 objects: 1 allowed, 0 denied, 0 skipped
`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, msg, code := runValidate(t, "", tt.args...)
			if code != tt.wantCode || out != tt.wantOut {
				t.Errorf("validate %v: exit %d (error %q), output:\n%s\nwant exit %d, output:\n%s", tt.args, code, msg, out, tt.wantCode, tt.wantOut)
			}
		})
	}
}
