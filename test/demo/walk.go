package main

import (
	"context"
	"fmt"
	"path/filepath"
)

const setupManifest = `# What Longhorn's install provides: a VolumeSnapshotClass and a StorageClass.
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata:
  name: longhorn
driver: driver.longhorn.io
deletionPolicy: Delete
parameters:
  type: bak
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: longhorn
provisioner: driver.longhorn.io
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
`

// content is the seed's VolumeSnapshotContent (converted to v1) with handle.
func content(handle string) string {
	return `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotContent
metadata:
  name: test-existing-backup
spec:
  volumeSnapshotClassName: longhorn
  driver: driver.longhorn.io
  deletionPolicy: Delete
  source:
    snapshotHandle: ` + handle + `
  volumeSnapshotRef:
    name: test-snapshot-existing-backup
    namespace: default
`
}

func snapshot(namespace string) string {
	return `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: test-snapshot-existing-backup
  namespace: ` + namespace + `
spec:
  volumeSnapshotClassName: longhorn
  source:
    volumeSnapshotContentName: test-existing-backup
`
}

func restorePVC(storage string) string {
	return `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: test-restore-snapshot-pvc
spec:
  storageClassName: longhorn
  dataSource:
    name: test-snapshot-existing-backup
    kind: VolumeSnapshot
    apiGroup: snapshot.storage.k8s.io
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: ` + storage + `
`
}

const oneObjectPVC = `# One object instead of three: name the backup, the webhook does the rest.
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: restored-from-backup
  annotations:
    snaprestore.io/backup: test-vol/backup-625159fb469e492e
spec:
  storageClassName: longhorn
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 16Mi
`

// walk runs the seed's flow with kubectl and returns how many steps did not
// behave as expected.
func (d *demo) walk(ctx context.Context) int {
	failed := 0
	check := func(ok bool) {
		if !ok {
			failed++
		}
	}
	handle := "bs://" + volume + "/" + backup
	fmt.Fprintf(d.out, "\n== Restore a backup through the CSI snapshot API (Longhorn's \"Restore a Backup via CSI\")\n")
	check(d.apply(ctx, "Install what Longhorn provides: VolumeSnapshotClass and StorageClass longhorn", setupManifest,
		expect{contains: []string{"volumesnapshotclass.snapshot.storage.k8s.io/longhorn created", "storageclass.storage.k8s.io/longhorn created"}}))
	check(d.apply(ctx, "Mistake: the handle lacks the backup name", content("bs://"+volume),
		expect{exit: 1, contains: []string{`spec.source.snapshotHandle: Invalid value: "bs://test-vol": missing backup name`}}))
	check(d.apply(ctx, "Mistake: a typo in the backup name", content("bs://"+volume+"/backup-625159fb469e492f"),
		expect{exit: 1, contains: []string{"does not exist in the backupstore; did you mean bak://" + volume + "/" + backup + "? available backups (newest first): bak://" + volume + "/" + backup}}))
	check(d.apply(ctx, "The page's VolumeSnapshotContent: admitted, with two warnings", content(handle),
		expect{contains: []string{"volumesnapshotcontent.snapshot.storage.k8s.io/test-existing-backup created",
			"Warning: spec.source.snapshotHandle: bs:// is deprecated", "Warning: spec.deletionPolicy: Delete deletes backup"}}))
	check(d.apply(ctx, "Mistake: the VolumeSnapshot in another namespace than the content's volumeSnapshotRef", snapshot("team-a"),
		expect{exit: 1, contains: []string{"so the two never bind"}}))
	check(d.apply(ctx, "The page's VolumeSnapshot: admitted", snapshot("default"),
		expect{contains: []string{"volumesnapshot.snapshot.storage.k8s.io/test-snapshot-existing-backup created"}}))
	check(d.apply(ctx, "Mistake: a PVC smaller than the backed-up volume (64 MiB)", restorePVC("32Mi"),
		expect{exit: 1, contains: []string{`spec.resources.requests[storage]: Invalid value: "32Mi": below the size 64Mi`}}))
	check(d.apply(ctx, "The page's PVC: admitted", restorePVC("2Gi"),
		expect{contains: []string{"persistentvolumeclaim/test-restore-snapshot-pvc created"}}))

	fmt.Fprintf(d.out, "\n== The same restore from one object: a bare backup reference\n")
	check(d.apply(ctx, "A PVC that only names the backup", oneObjectPVC,
		expect{contains: []string{"persistentvolumeclaim/restored-from-backup created",
			"Warning: spec.resources.requests[storage]: raised from 16Mi to 64Mi"}}))
	check(d.get(ctx, "What the mutating webhook created and set", expect{contains: []string{"restored-from-backup", "bak://" + volume + "/" + backup}},
		"get", "pvc,volumesnapshot,volumesnapshotcontent", "-o",
		"custom-columns=KIND:.kind,NAME:.metadata.name,DATA-SOURCE:.spec.dataSource.name,SIZE:.spec.resources.requests.storage,CONTENT:.spec.source.volumeSnapshotContentName,HANDLE:.spec.source.snapshotHandle"))
	check(d.apply(ctx, "Apply the same manifest again: nothing changes", oneObjectPVC,
		expect{contains: []string{"persistentvolumeclaim/restored-from-backup configured"}}))

	return failed + d.walkVerification(ctx)
}

// walkVerification shows the background verification of the one-object restore, then
// restores and verifies the backup with the CLI; it returns the failed steps.
func (d *demo) walkVerification(ctx context.Context) int {
	failed := 0
	check := func(ok bool) {
		if !ok {
			failed++
		}
	}
	fmt.Fprintf(d.out, "\n== The webhook verifies the backup in the background\n")
	// The annotation is written before the event is recorded (events are sent
	// asynchronously), so wait for both.
	verified := func() bool {
		r, err := d.kubectl(ctx, "", "get", "pvc", "restored-from-backup", "-o", `jsonpath={.metadata.annotations.snaprestore\.io/backup-verification}`)
		switch {
		case err != nil || r.output == "":
			return false
		case r.output != "intact":
			return true // damaged or error: the next steps say so
		}
		r, err = d.kubectl(ctx, "", "get", "events", "--field-selector", "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=restored-from-backup,reason=BackupVerified", "-o", "name")
		return err == nil && r.output != ""
	}
	if err := d.waitFor(ctx, "wait for the verification of restored-from-backup", verified); err != nil {
		fmt.Fprintf(d.out, "   UNEXPECTED: %v\n", err)
		failed++
	}
	check(d.get(ctx, "The PVC's verification annotation", expect{contains: []string{"intact"}},
		"get", "pvc", "restored-from-backup", "-o",
		`custom-columns=NAME:.metadata.name,VERIFICATION:.metadata.annotations.snaprestore\.io/backup-verification`))
	check(d.get(ctx, "The PVC's events", expect{contains: []string{"BackupVerified"}},
		"get", "events", "--field-selector", "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=restored-from-backup",
		"--sort-by", ".metadata.creationTimestamp", "-o", "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message"))
	restored := filepath.Join(d.work, "restored.img")
	check(d.step(ctx, "Restore the backup from the command line", fmt.Sprintf("snaprestore restore bak://%s/%s --backupstore %s --to %s", volume, backup, d.store, restored),
		expect{contains: []string{"restored bak://" + volume + "/" + backup + " to " + restored}}, func() (result, error) {
			return d.snaprestore(ctx, "restore", "bak://"+volume+"/"+backup, "--backupstore", d.store, "--to", restored)
		}))
	check(d.step(ctx, "The restored image is the backed-up one, byte for byte", "sha256sum "+d.image+" "+restored, expect{},
		func() (result, error) {
			sums, same, err := sameImage(d.image, restored)
			if err != nil {
				return result{}, err
			}
			if !same {
				return result{output: sums, exit: 1}, nil
			}
			return result{output: sums}, nil
		}))
	check(d.step(ctx, "Verify the backup from the command line", fmt.Sprintf("snaprestore verify bak://%s/%s --backupstore %s", volume, backup, d.store),
		expect{}, func() (result, error) {
			return d.snaprestore(ctx, "verify", "bak://"+volume+"/"+backup, "--backupstore", d.store)
		}))
	return failed
}
