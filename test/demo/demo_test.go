package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// TestDemoOnce runs `make demo DEMO_FLAGS=--once` in process: every step of the
// walk-through must behave as expected (each checks kubectl's exit status and
// output), and run must return nil.
func TestDemoOnce(t *testing.T) {
	assets, err := testenv.Assets("", "kubectl", "kube-controller-manager", "kube-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "snaprestore")
	build := exec.Command("go", "build", "-o", bin, "./cmd/snaprestore")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/snaprestore: %v\n%s", err, out)
	}
	var out bytes.Buffer
	err = run(context.Background(), options{bin: bin, assets: assets, once: true}, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo --once: %v", err)
	}
	if !strings.Contains(out.String(), "All 31 steps behaved as expected.") {
		t.Errorf("demo output lacks the summary %q", "All 31 steps behaved as expected.")
	}
	if strings.Contains(out.String(), "UNEXPECTED") {
		t.Errorf("demo output reports an UNEXPECTED step")
	}
}
