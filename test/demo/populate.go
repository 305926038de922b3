package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/snaprestore/snaprestore/test/nodeagent"
)

// The populator part of the demo (issue #10): a backup restored into a StorageClass
// that is not Longhorn, through a BackupSource, by the populator the webhook runs.
const (
	populatorNS    = "snaprestore-system"
	populatorImage = "snaprestore:demo"
	filesVolume    = "files-vol"
	filesBackup    = "backup-3e1f5a7c9b2d4068"
)

// populatorArgs are the webhook flags of the populator.
var populatorArgs = []string{"--populator", "--populator-namespace", populatorNS, "--populator-image", populatorImage, "--populator-backoff", "1s"}

// startAgent starts the node agent on the demo's cluster: the real
// kube-controller-manager and kube-scheduler, and a stand-in kubelet and CSI
// provisioner that back volumes with files and run the populator pods as local
// processes (no container runtime exists here). It runs beside the first part of
// the walk-through, so the demo starts no later than before.
func (d *demo) startAgent(ctx context.Context, assets string) (*nodeagent.Cluster, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: populatorNS}}
	if err := d.c.Client.Create(ctx, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", populatorNS, err)
	}
	log, err := os.Create(filepath.Join(d.work, "nodeagent.log"))
	if err != nil {
		return nil, err
	}
	a, err := nodeagent.Start(ctx, d.c.Config, nodeagent.Options{
		Dir: filepath.Join(d.work, "node"), Assets: assets,
		Images: map[string]string{populatorImage: d.bin},
		Env:    []string{"KUBECONFIG=" + d.c.Kubeconfig},
		Logger: funcr.New(func(prefix, args string) { fmt.Fprintln(log, prefix, args) }, funcr.Options{}),
	})
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("start the node agent (kube-controller-manager, kube-scheduler, stand-in kubelet; log %s): %w", log.Name(), err)
	}
	d.agentLog = log
	return a, nil
}

// prepareFiles writes a small tree into a 32 MiB ext4 image with mkfs.ext4 -d and
// backs it up: the backup a Filesystem PVC restores the files of.
func (d *demo) prepareFiles(ctx context.Context) bool {
	d.tree = filepath.Join(d.work, "tree")
	files := map[string]string{
		"index.html":       "<h1>restored by snaprestore</h1>\n",
		"conf/app.yaml":    "replicas: 3\nlog: info\n",
		"data/orders.csv":  strings.Repeat("1001,widget,3\n", 4096),
		"data/README.note": "orders of the demo shop\n",
	}
	for name, text := range files {
		p := filepath.Join(d.tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return d.fail(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return d.fail(err)
		}
	}
	if err := os.Symlink("data/orders.csv", filepath.Join(d.tree, "latest.csv")); err != nil {
		return d.fail(err)
	}
	img := filepath.Join(d.work, filesVolume+".img")
	ok := d.step(ctx, "Make a 32 MiB ext4 image of a small tree (a volume of files)",
		"mkfs.ext4 -q -d "+d.tree+" "+img+" 32M", expect{}, func() (result, error) {
			return command(ctx, "mkfs.ext4", "-q", "-F", "-d", d.tree, img, "32M")
		})
	return ok && d.step(ctx, "Back it up as Longhorn would",
		fmt.Sprintf("snaprestore backup --backupstore %s --volume %s --from %s --backup %s", d.store, filesVolume, img, filesBackup),
		expect{}, func() (result, error) {
			return d.snaprestore(ctx, "backup", "--backupstore", d.store, "--volume", filesVolume, "--from", img, "--backup", filesBackup)
		})
}

func (d *demo) fail(err error) bool {
	fmt.Fprintf(d.out, "   UNEXPECTED: %v\n", err)
	return false
}

// command runs a host tool.
func command(ctx context.Context, name string, args ...string) (result, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return result{output: string(out), exit: ee.ExitCode()}, nil
	}
	return result{output: string(out)}, err
}

const otherClass = `# A StorageClass of another CSI driver (the node agent's): Longhorn cannot restore into it.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-files
provisioner: hostpath.test.snaprestore.io
reclaimPolicy: Delete
volumeBindingMode: Immediate
`

func populated(name, backup, mode, size string) string {
	return `apiVersion: snaprestore.io/v1alpha1
kind: BackupSource
metadata:
  name: ` + name + `
spec:
  backup: ` + backup + `
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ` + name + `
spec:
  storageClassName: local-files
  volumeMode: ` + mode + `
  dataSourceRef:
    apiGroup: snaprestore.io
    kind: BackupSource
    name: ` + name + `
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: ` + size + `
`
}
