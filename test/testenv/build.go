package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ModuleRoot is the directory of the snaprestore module's go.mod, found with
// `go env GOMOD` from the current directory.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: %q, %v; expected to run inside the snaprestore module", mod, err)
	}
	return filepath.Dir(mod), nil
}

// BuildSnaprestore builds ./cmd/snaprestore of the module into dir/snaprestore
// and returns that path: the binary a test runs as users do, built as the
// Makefile and the Dockerfile build it, with Go's simd experiment (the
// AVX-512 checksums of restore/internal/batchsha) unless GOEXPERIMENT is
// set. env is added to the build's environment (CGO_ENABLED=0 for a static
// binary).
func BuildSnaprestore(dir string, env ...string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "snaprestore")
	build := exec.Command("go", "build", "-o", bin, "./cmd/snaprestore")
	build.Dir, build.Env = root, os.Environ()
	if os.Getenv("GOEXPERIMENT") == "" {
		build.Env = append(build.Env, "GOEXPERIMENT=simd")
	}
	build.Env = append(build.Env, env...)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/snaprestore: %w\n%s", err, out)
	}
	return bin, nil
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (a process's
// stdout and stderr) and readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
