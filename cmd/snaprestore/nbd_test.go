package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snaprestore/snaprestore/test/testenv"
)

var servingLine = regexp.MustCompile(`serving (\S+) \(([^)]*)\) at (nbd://\S+);`)

func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (%v); install Debian's libnbd-bin (hack/test-deps.sh)", name, err)
	}
	return p
}

// nbdinfoReadOnly runs nbdinfo --json on url and returns the export's size
// and read-only flag.
func nbdinfoReadOnly(t *testing.T, url string) (int64, bool) {
	t.Helper()
	out, err := exec.Command(lookTool(t, "nbdinfo"), "--json", url).Output()
	if err != nil {
		t.Fatalf("nbdinfo %s: %v", url, err)
	}
	var info struct {
		Exports []struct {
			ReadOnly bool  `json:"is_read_only"`
			Size     int64 `json:"export-size"`
		} `json:"exports"`
	}
	if err := json.Unmarshal(out, &info); err != nil || len(info.Exports) != 1 {
		t.Fatalf("nbdinfo --json: %v\n%s", err, out)
	}
	return info.Exports[0].Size, info.Exports[0].ReadOnly
}

func TestNBDCommand(t *testing.T) {
	t.Parallel()
	nbdcopy := lookTool(t, "nbdcopy")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := newRootCmd()
	var stdout, stderr testenv.SyncBuffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"nbd", "vol-lz4/backup-1c0e4b2f9a7d6835", "--backupstore", storeURL(t, "lz4-chain"),
		"--listen", "127.0.0.1:0", "--cache-size", "4Mi"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var m []string
	for deadline := time.Now().Add(60 * time.Second); m == nil; m = servingLine.FindStringSubmatch(stderr.String()) {
		select {
		case err := <-done:
			t.Fatalf("nbd ended before serving: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving line after 60s:\n%s", stderr.String())
		}
	}
	if m[1] != "bak://vol-lz4/backup-1c0e4b2f9a7d6835" || m[2] != "64 MiB, read-only" {
		t.Errorf("serving line %q", m[0])
	}
	if size, ro := nbdinfoReadOnly(t, m[3]); size != 64<<20 || !ro {
		t.Errorf("nbdinfo: size %d, read-only %v; want 64 MiB, read-only", size, ro)
	}
	out := filepath.Join(t.TempDir(), "copy.img")
	if b, err := exec.Command(nbdcopy, m[3], out).CombinedOutput(); err != nil {
		t.Fatalf("nbdcopy: %v\n%s", err, b)
	}
	if got, want := testenv.FileSHA256(t, out), "4e9021e9109e23c45235152e0dd5f0831f2810e568487d5607aaddcd7f3a9f78"; got != want {
		t.Errorf("sha256 of the copy %s; want %s (CASES)", got, want)
	}
	cancel() // what SIGINT and SIGTERM do in main
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("nbd after the stop = %v; want nil (exit 0)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("nbd still running 30s after the stop")
	}
	if !strings.HasSuffix(stderr.String(), "stopped\n") {
		t.Errorf("stderr does not end with the stop:\n%s", stderr.String())
	}
}

func TestNBDCommandRefuses(t *testing.T) {
	t.Parallel()
	store := storeURL(t, "lz4-chain")
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"bad reference", []string{"nbd", "not a reference", "--backupstore", store}, `"not a reference": whitespace ' ' at offset 3; expected <volume>/<backup>`},
		{"no backupstore", []string{"nbd", "vol-lz4/backup-1c0e4b2f9a7d6835"}, "--backupstore is required (file:///path, vfs:///path or s3://bucket@region/[path])"},
		{"missing store", []string{"nbd", "vol-lz4/backup-1c0e4b2f9a7d6835", "--backupstore", "file:///nonexistent/backups"}, "backupstore directory"},
		{"unknown backup", []string{"nbd", "vol-lz4/backup-0000000000000000", "--backupstore", store, "--listen", "127.0.0.1:0"}, "backup not found: bak://vol-lz4/backup-0000000000000000"},
		{"bad cache size", []string{"nbd", "vol-lz4/backup-1c0e4b2f9a7d6835", "--backupstore", store, "--cache-size", "lots"},
			`invalid argument "lots" for "--cache-size" flag: "lots"; expected a number of bytes with an optional unit K, M or G (powers of 1024), such as 64Mi`},
		{"bad listen", []string{"nbd", "vol-lz4/backup-1c0e4b2f9a7d6835", "--backupstore", store, "--listen", "10809"},
			`listen address "10809": address 10809: missing port in address; expected host:port, such as 127.0.0.1:10809`},
		{"negative partition", []string{"nbd", "vol-lz4/backup-1c0e4b2f9a7d6835", "--backupstore", store, "--partition", "-1"},
			"partition -1; expected a partition number (1 or more) or 0 for the whole volume"},
		{"partition of an unpartitioned volume", []string{"nbd", "vol-lz4/backup-1c0e4b2f9a7d6835", "--backupstore", store, "--listen", "127.0.0.1:0", "--partition", "1"},
			"bak://vol-lz4/backup-1c0e4b2f9a7d6835: partition 1: no partition table on the volume (a filesystem on the whole volume?); omit the partition number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := runCLI(t, c.args...)
			if exitCode(err) == 0 || !strings.HasPrefix(err.Error(), c.msg) {
				t.Errorf("error %v (exit %d); want %q... and a non-zero exit", err, exitCode(err), c.msg)
			}
		})
	}
}

// TestNBDProcessStopsOnSignals runs the built binary as users do: SIGINT and
// SIGTERM stop it with exit status 0.
func TestNBDProcessStopsOnSignals(t *testing.T) {
	t.Parallel()
	bin, err := testenv.BuildSnaprestore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, "nbd", "bak://vol-gzip/backup-5b2e8d1f0c4a9367", "--backupstore", storeURL(t, "gzip-single"), "--listen", "127.0.0.1:0")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := make(chan string, 16)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var url string
			for url == "" {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("snaprestore nbd exited before serving: %v", cmd.Wait())
					}
					if m := servingLine.FindStringSubmatch(l); m != nil {
						url = m[3]
					}
				case <-time.After(60 * time.Second):
					t.Fatal("no serving line after 60s")
				}
			}
			if size, ro := nbdinfoReadOnly(t, url); size != 32<<20 || !ro {
				t.Errorf("nbdinfo: size %d, read-only %v", size, ro)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var rest []string
			for closed := false; !closed; {
				select {
				case l, ok := <-lines:
					closed = !ok
					if ok {
						rest = append(rest, l)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("still running 30s after %v", sig)
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("after %v: %v; want exit status 0", sig, err)
			}
			if len(rest) != 1 || rest[0] != "stopped" {
				t.Errorf("stderr after %v: %q; want \"stopped\"", sig, rest)
			}
		})
	}
}
