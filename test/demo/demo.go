package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/snaprestore/snaprestore/test/e2e/cluster"
	"github.com/snaprestore/snaprestore/test/nodeagent"
)

// The demo's backup: the volume and backup names of the seed page's example.
const (
	volume     = "test-vol"
	backup     = "backup-625159fb469e492e"
	volumeSize = 64 << 20
)

// demo is one run of the walk-through.
type demo struct {
	out   io.Writer
	bin   string // snaprestore
	work  string
	store string // backupstore URL
	image string // the backed-up image
	c     *cluster.Cluster
	steps int // steps run so far
	// The populator part (populate.go): the node agent, its log, the files' tree.
	agent    *nodeagent.Cluster
	agentLog *os.File
	tree     string
}

// result is what one command printed.
type result struct {
	output string // stdout then stderr, as a terminal shows them
	exit   int
}

// expect describes a step's expected outcome.
type expect struct {
	exit int
	// contains are substrings of the output, in any order.
	contains []string
}

// step runs one command, prints it and its output, and checks the outcome; it
// reports whether the step behaved as expected.
func (d *demo) step(ctx context.Context, title, display string, want expect, run func() (result, error)) bool {
	if ctx.Err() != nil {
		return false // interrupted: the rest of the walk-through is skipped
	}
	d.steps++
	fmt.Fprintf(d.out, "\n[%d] %s\n$ %s\n", d.steps, title, display)
	r, err := run()
	if err != nil {
		fmt.Fprintf(d.out, "   UNEXPECTED: %v\n", err)
		return false
	}
	for _, l := range strings.Split(strings.TrimRight(r.output, "\n"), "\n") {
		fmt.Fprintf(d.out, "   %s\n", l)
	}
	var problems []string
	if r.exit != want.exit {
		problems = append(problems, fmt.Sprintf("exit status %d, expected %d", r.exit, want.exit))
	}
	for _, s := range want.contains {
		if !strings.Contains(r.output, s) {
			problems = append(problems, fmt.Sprintf("output lacks %q", s))
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(d.out, "   UNEXPECTED: %s\n", strings.Join(problems, "; "))
		return false
	}
	return true
}

// snaprestore runs the CLI.
func (d *demo) snaprestore(ctx context.Context, args ...string) (result, error) {
	cmd := exec.CommandContext(ctx, d.bin, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return result{output: buf.String(), exit: exit.ExitCode()}, nil
	case err != nil:
		return result{}, err
	}
	return result{output: buf.String()}, nil
}

// kubectl runs kubectl with stdin.
func (d *demo) kubectl(ctx context.Context, stdin string, args ...string) (result, error) {
	r, err := d.c.Kubectl(ctx, d.work, stdin, args...)
	return result{output: r.Stdout + r.Stderr, exit: r.Exit}, err
}

// apply shows and applies a manifest with kubectl apply -f -.
func (d *demo) apply(ctx context.Context, title, manifest string, want expect) bool {
	display := "kubectl apply -f - <<EOF\n" + strings.TrimRight(manifest, "\n") + "\nEOF"
	return d.step(ctx, title, display, want, func() (result, error) { return d.kubectl(ctx, manifest, "apply", "-f", "-") })
}

// get shows a kubectl command other than apply.
func (d *demo) get(ctx context.Context, title string, want expect, args ...string) bool {
	return d.step(ctx, title, "kubectl "+strings.Join(args, " "), want, func() (result, error) { return d.kubectl(ctx, "", args...) })
}

// prepareStore writes a 64 MiB volume image with a few written regions and backs
// it up with `snaprestore backup`, then lists the store.
func (d *demo) prepareStore(ctx context.Context) error {
	fmt.Fprintf(d.out, "== A Longhorn-format backupstore, written by snaprestore backup\n")
	if err := os.MkdirAll(filepath.Join(d.work, "backupstore"), 0o755); err != nil {
		return err
	}
	d.image = filepath.Join(d.work, volume+".img")
	if err := writeImage(d.image); err != nil {
		return err
	}
	ok := d.step(ctx, "Back up a 64 MiB volume image (three 2 MiB regions written) as Longhorn would",
		fmt.Sprintf("snaprestore backup --backupstore %s --volume %s --from %s --backup %s", d.store, volume, d.image, backup),
		expect{}, func() (result, error) {
			return d.snaprestore(ctx, "backup", "--backupstore", d.store, "--volume", volume, "--from", d.image, "--backup", backup)
		})
	ok = d.step(ctx, "List the backupstore: the handle to paste into a VolumeSnapshotContent",
		"snaprestore backups --backupstore "+d.store,
		expect{contains: []string{"bak://" + volume + "/" + backup}}, func() (result, error) {
			return d.snaprestore(ctx, "backups", "--backupstore", d.store)
		}) && ok
	if !ok {
		return errors.New("could not prepare the backupstore")
	}
	return nil
}

// writeImage writes a sparse volume image with recognizable data at 0, 8 MiB and 40 MiB.
func writeImage(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(volumeSize); err != nil {
		return err
	}
	for i, off := range []int64{0, 8 << 20, 40 << 20} {
		var b bytes.Buffer
		for n := 0; b.Len() < 2<<20; n++ {
			fmt.Fprintf(&b, "snaprestore demo: region %d, line %d\n", i, n)
		}
		if _, err := f.WriteAt(b.Bytes()[:2<<20], off); err != nil {
			return err
		}
	}
	return f.Close()
}

// waitFor polls cond (a kubectl query) until it holds, for at most two minutes.
func (d *demo) waitFor(ctx context.Context, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// sameImage compares the restored image with the backed-up one.
func sameImage(a, b string) (string, bool, error) {
	var sums []string
	for _, p := range []string{a, b} {
		f, err := os.Open(p)
		if err != nil {
			return "", false, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", false, err
		}
		sums = append(sums, fmt.Sprintf("%x  %s", h.Sum(nil), p))
	}
	return strings.Join(sums, "\n"), sums[0][:64] == sums[1][:64], nil
}
