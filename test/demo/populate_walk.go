package main

import (
	"context"
	"fmt"
)

// walkPopulator restores the demo's backup into a StorageClass of another driver,
// as a Block volume and the files of an ext4 backup as a Filesystem volume; it
// returns the failed steps. agentErr is the node agent's start-up result.
func (d *demo) walkPopulator(ctx context.Context, agentErr error) int {
	failed := 0
	check := func(ok bool) {
		if !ok {
			failed++
		}
	}
	fmt.Fprintf(d.out, "\n== Restore into a StorageClass that is not Longhorn: a BackupSource and the volume populator\n")
	if agentErr != nil {
		fmt.Fprintf(d.out, "   UNEXPECTED: %v\n", agentErr)
		return 1
	}
	fmt.Fprintf(d.out, "   node %s: kube-controller-manager, kube-scheduler and a stand-in kubelet and CSI driver %s\n   (volumes are files and directories under %s; populator pods run as local processes)\n",
		d.agent.Node, d.agent.Provisioner, d.work)
	handle := "bak://" + volume + "/" + backup
	check(d.apply(ctx, "Install a StorageClass of another CSI driver", otherClass,
		expect{contains: []string{"storageclass.storage.k8s.io/local-files created"}}))
	check(d.apply(ctx, "Mistake: a Block PVC smaller than the backed-up volume (64 MiB)", populated("block", handle, "Block", "32Mi"),
		expect{exit: 1, contains: []string{"backupsource.snaprestore.io/block created",
			`spec.resources.requests[storage]: Invalid value: "32Mi": below the size 64Mi of backup ` + handle + ` that BackupSource default/block restores`}}))
	check(d.apply(ctx, "A Block PVC of the backup's size, populated from the BackupSource", populated("block", handle, "Block", "64Mi"),
		expect{contains: []string{"backupsource.snaprestore.io/block unchanged", "persistentvolumeclaim/block created"}}))
	check(d.waitBound(ctx, "block"))
	check(d.get(ctx, "The BackupSource says what was restored", expect{contains: []string{"Succeeded"}}, "get", "backupsource", "block"))
	check(d.get(ctx, "The PVC's events: the populator's progress", expect{contains: []string{"PopulateVerified", "Bound"}},
		"get", "events", "--field-selector", "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=block",
		"--sort-by", ".metadata.creationTimestamp", "-o", "custom-columns=REASON:.reason,MESSAGE:.message"))
	check(d.step(ctx, "The Block volume is the backed-up image, byte for byte", "sha256sum "+d.image+" <the PV's backing file>", expect{},
		func() (result, error) { return d.sameAsVolume(ctx, "block") }))

	check(d.prepareFiles(ctx))
	fhandle := "bak://" + filesVolume + "/" + filesBackup
	check(d.apply(ctx, "A Filesystem PVC smaller than the 32 MiB volume: the files need far less", populated("files", fhandle, "Filesystem", "16Mi"),
		expect{contains: []string{"backupsource.snaprestore.io/files created", "persistentvolumeclaim/files created"}}))
	check(d.waitBound(ctx, "files"))
	check(d.get(ctx, "Both BackupSources", expect{contains: []string{"block", "files"}}, "get", "backupsources"))
	check(d.step(ctx, "The files in the Filesystem volume are the tree's (and the filesystem's lost+found)", "diff -r --no-dereference -x lost+found "+d.tree+" <the PV's directory> && ls -lAR --time-style=+ <the PV's directory>", expect{},
		func() (result, error) { return d.diffVolume(ctx, "files") }))
	return failed
}

// waitBound waits for PVC name to be Bound or its BackupSource to have failed, then
// shows the PVC.
func (d *demo) waitBound(ctx context.Context, name string) bool {
	done := func() bool {
		pvc, err := d.kubectl(ctx, "", "get", "pvc", name, "-o", "jsonpath={.status.phase}")
		if err == nil && pvc.output == "Bound" {
			// The populator's Bound event follows the binding; the next
			// step shows it.
			ev, err := d.kubectl(ctx, "", "get", "events", "--field-selector", "involvedObject.kind=PersistentVolumeClaim,involvedObject.name="+name+",reason=Bound", "-o", "name")
			return err == nil && ev.output != ""
		}
		src, err := d.kubectl(ctx, "", "get", "backupsource", name, "-o", "jsonpath={.status.phase}")
		return err == nil && src.output == "Failed" // the next steps show why
	}
	if err := d.waitFor(ctx, "wait for PVC "+name+" to be populated and bound", done); err != nil {
		return d.fail(err)
	}
	return d.get(ctx, "Wait until the populator has restored it and the PV is bound to the PVC", expect{contains: []string{"Bound"}},
		"get", "pvc", name, "-o", "custom-columns=NAME:.metadata.name,STATUS:.status.phase,MODE:.spec.volumeMode,CAPACITY:.status.capacity.storage,STORAGECLASS:.spec.storageClassName")
}

// pvPath is the node agent's backing file or directory of PVC name's volume.
func (d *demo) pvPath(ctx context.Context, name string) (string, error) {
	r, err := d.kubectl(ctx, "", "get", "pvc", name, "-o", "jsonpath={.spec.volumeName}")
	if err != nil || r.exit != 0 || r.output == "" {
		return "", fmt.Errorf("PVC %s has no volume: %v %s", name, err, r.output)
	}
	return d.agent.PVPath(ctx, r.output)
}

func (d *demo) sameAsVolume(ctx context.Context, name string) (result, error) {
	path, err := d.pvPath(ctx, name)
	if err != nil {
		return result{}, err
	}
	sums, same, err := sameImage(d.image, path)
	if err != nil {
		return result{}, err
	}
	if !same {
		return result{output: sums, exit: 1}, nil
	}
	return result{output: sums}, nil
}

func (d *demo) diffVolume(ctx context.Context, name string) (result, error) {
	dir, err := d.pvPath(ctx, name)
	if err != nil {
		return result{}, err
	}
	r, err := command(ctx, "diff", "-r", "--no-dereference", "-x", "lost+found", d.tree, dir)
	if err != nil || r.exit != 0 {
		return r, err
	}
	return command(ctx, "ls", "-lAR", "--time-style=+", dir)
}
