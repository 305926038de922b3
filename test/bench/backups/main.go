// Command backups-bench measures listing a volume with thousands of backups (issue
// #13, make bench): it generates one volume of -backups backup cfgs (no blocks) in a
// file:// backupstore and in a bucket of versitygw (a real S3 server on loopback,
// bin/versitygw), then times `snaprestore backups VOLUME` (the newest 50, the
// default; and --limit 0, every cfg) and the "backup not found" answer of `snaprestore restore` for a mistyped name, each as a child
// process, on both stores. Prints medians, the S3/file ratios and the goals (backups
// ≤ 2 s, not-found ≤ 0.5 s on S3); exits non-zero only when a step fails or answers
// wrongly, never on a goal.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/snaprestore/snaprestore/test/testenv"
)

type options struct {
	bin     string // snaprestore binary
	assets  string // directory with versitygw (KUBEBUILDER_ASSETS)
	backups int
	runs    int
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/snaprestore", "snaprestore binary")
	flag.StringVar(&o.assets, "assets", "bin", "directory with the versitygw binary")
	flag.IntVar(&o.backups, "backups", 5000, "backups of the one volume")
	flag.IntVar(&o.runs, "runs", 5, "repetitions of each timed step (medians are reported)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "backups-bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	assets, err := filepath.Abs(o.assets)
	if err != nil {
		return err
	}
	os.Setenv("KUBEBUILDER_ASSETS", assets)
	dir, err := os.MkdirTemp("", "snaprestore-backups-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := testenv.RunS3(filepath.Join(dir, "s3"), testenv.S3Options{Buckets: []string{"backups"}})
	if err != nil {
		return err
	}
	defer srv.Stop()
	many := testenv.ManyBackups{Volume: "vol-many", N: o.backups, First: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	fileRoot := filepath.Join(dir, "file")
	for _, root := range []string{fileRoot, filepath.Join(srv.Root, "backups")} {
		if err := many.Write(root); err != nil {
			return err
		}
	}
	newest := many.Name(many.N - 1)
	typo := newest[:len(newest)-1] + "x"
	stores := []struct{ name, url string }{{"file://", "file://" + fileRoot}, {"s3 (versitygw)", "s3://backups@us-east-1/"}}
	env := append(os.Environ(), "AWS_ENDPOINTS="+srv.Endpoint, "AWS_ACCESS_KEY_ID="+testenv.S3AccessKey, "AWS_SECRET_ACCESS_KEY="+testenv.S3SecretKey)
	fmt.Printf("one volume of %d backups; medians of %d runs of the snaprestore process\n", many.N, o.runs)
	var medians [2][3]time.Duration
	for i, s := range stores {
		listing := func(limit string, want int) (time.Duration, error) {
			return timed(o.runs, func() error {
				out, code, err := runCLI(bin, env, "backups", "--backupstore", s.url, many.Volume, "--limit", limit)
				if err != nil || code != 0 {
					return fmt.Errorf("backups --limit %s on %s: exit %d, %v: %s", limit, s.name, code, err, out)
				}
				if n := strings.Count(out, "bak://"+many.Volume+"/"); n != want {
					return fmt.Errorf("backups --limit %s on %s: %d backups listed; want %d", limit, s.name, n, want)
				}
				return nil
			})
		}
		list, err := listing("50", min(50, many.N))
		if err != nil {
			return err
		}
		all, err := listing("0", many.N)
		if err != nil {
			return err
		}
		miss, err := timed(o.runs, func() error {
			out, code, err := runCLI(bin, env, "restore", "bak://"+many.Volume+"/"+typo, "--backupstore", s.url, "--to", filepath.Join(dir, "img"))
			want := "did you mean bak://" + many.Volume + "/" + newest + "? available backups (newest first): bak://" + many.Volume + "/" + newest + ", "
			if err != nil || code != 1 || !strings.Contains(out, want) {
				return fmt.Errorf("restore of a mistyped name on %s: exit %d, %v: %s; want exit 1 with %q", s.name, code, err, out, want)
			}
			return nil
		})
		if err != nil {
			return err
		}
		medians[i] = [3]time.Duration{list, miss, all}
		fmt.Printf("  %-15s backups (newest 50, the default) %8s   not-found answer %8s   backups --limit 0 (every cfg) %8s\n",
			s.name, list.Round(time.Millisecond), miss.Round(time.Millisecond), all.Round(time.Millisecond))
	}
	s3, file := medians[1], medians[0]
	fmt.Printf("  ratio s3/file: backups %.2fx, not-found %.2fx, backups --limit 0 %.2fx\n", ratio(s3[0], file[0]), ratio(s3[1], file[1]), ratio(s3[2], file[2]))
	goal := func(name string, got, limit time.Duration) {
		verdict := "PASS"
		if got > limit {
			verdict = "MISS"
		}
		fmt.Printf("  goal %-28s <= %-6s got %-8s %s\n", name, limit, got.Round(time.Millisecond), verdict)
	}
	goal("s3 backups (default limit)", s3[0], 2*time.Second)
	goal("s3 not-found answer", s3[1], 500*time.Millisecond)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("  load average %s", load)
	return nil
}

func timed(runs int, f func() error) (time.Duration, error) {
	var ds []time.Duration
	for range runs {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

func runCLI(bin string, env []string, args ...string) (string, int, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode(), nil
	}
	return string(out), 0, err
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
