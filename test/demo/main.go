// Command demo is `make demo`: it starts etcd, kube-apiserver and `snaprestore
// webhook` on loopback, with a Longhorn-format backupstore written by `snaprestore
// backup`, and walks through the restore flow of Longhorn's "Restore a Backup via
// CSI" page with kubectl, printing each command and what it printed: a correct
// restore admitted, the typical mistakes denied with their messages, and the
// one-object restore; then, with the node agent (test/nodeagent) as the node, the
// backup restored into a StorageClass of another driver through a BackupSource, as
// a Block and a Filesystem volume (issue #10). It then prints the kubeconfig and runs until Ctrl-C; with
// --once it exits after the walk-through, with status 0 only if every step
// behaved as expected.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
)

// options are the demo's flags.
type options struct {
	bin    string // snaprestore binary
	assets string // etcd, kube-apiserver, kubectl
	once   bool
	keep   bool // keep the work directory after exit
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/snaprestore", "snaprestore binary (make build)")
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory with etcd, kube-apiserver and kubectl (make control-plane; default $KUBEBUILDER_ASSETS)")
	flag.BoolVar(&o.once, "once", false, "exit after the walk-through: status 0 only if every step behaved as expected")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (kubeconfig, backupstore, restored images, webhook log) after exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// errSteps reports that the walk-through did not go as expected.
var errSteps = errors.New("some steps did not behave as expected")

// run sets up the demo, walks through it and, unless o.once, waits for ctx to end.
func run(ctx context.Context, o options, out io.Writer) error {
	if o.assets == "" {
		return errors.New("no control plane binaries: pass -assets or set KUBEBUILDER_ASSETS (make demo does; make control-plane builds them into bin/)")
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("-bin: %w (make build writes bin/snaprestore)", err)
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return fmt.Errorf("run the demo from the snaprestore module (go env GOMOD: %v)", err)
	}
	work, err := os.MkdirTemp("", "snaprestore-demo-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	d := &demo{out: out, bin: bin, work: work, store: "file://" + filepath.Join(work, "backupstore")}
	if err := d.prepareStore(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n== Start etcd, kube-apiserver and snaprestore webhook on loopback\n")
	d.c, err = cluster.Start(ctx, cluster.Options{
		Assets: o.assets, Binary: bin, ModuleDir: filepath.Dir(strings.TrimSpace(string(gomod))), WorkDir: work,
		// The chart's CRDs (BackupSource, VolumePopulator) and the populator, for the
		// restore into another StorageClass.
		CRDDirs:     []string{filepath.Join(filepath.Dir(strings.TrimSpace(string(gomod))), "charts", "snaprestore", "crds")},
		WebhookArgs: append([]string{"--backupstore", d.store}, populatorArgs...),
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := d.c.Stop(); err != nil {
			fmt.Fprintln(out, "demo:", err)
		}
	}()
	fmt.Fprintf(out, "   webhook %s (log %s), registered as ValidatingWebhookConfiguration and\n   MutatingWebhookConfiguration %q\n",
		d.c.WebhookURL, d.c.WebhookLog, cluster.ConfigurationName)

	// The node agent starts while the first part of the walk-through runs.
	agentErr := make(chan error, 1)
	go func() {
		var err error
		d.agent, err = d.startAgent(ctx, o.assets)
		agentErr <- err
	}()
	defer func() {
		if d.agent != nil {
			if err := d.agent.Stop(); err != nil {
				fmt.Fprintln(out, "demo: stop the node agent:", err)
			}
			d.agentLog.Close()
		}
	}()
	failed := d.walk(ctx)
	failed += d.walkPopulator(ctx, <-agentErr)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case failed > 0:
		fmt.Fprintf(out, "\n%d of %d steps did NOT behave as expected (see \"UNEXPECTED\" above; webhook log %s)\n", failed, d.steps, d.c.WebhookLog)
	default:
		fmt.Fprintf(out, "\nAll %d steps behaved as expected.\n", d.steps)
	}
	if o.once {
		if failed > 0 {
			return errSteps
		}
		return nil
	}
	fmt.Fprintf(out, "\nThe cluster keeps running. Try it:\n  export KUBECONFIG=%s\n  kubectl get volumesnapshots,volumesnapshotcontents,backupsources,pvc -A\n  %s backups --backupstore %s\nPress Ctrl-C to stop.\n",
		d.c.Kubeconfig, bin, d.store)
	<-ctx.Done()
	fmt.Fprintln(out, "\nStopping.")
	if failed > 0 {
		return errSteps
	}
	return nil
}
