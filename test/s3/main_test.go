package s3

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the snaprestore binary TestMain built.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "snaprestore-s3-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binary = filepath.Join(tmp, "snaprestore")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/snaprestore")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "s3: build snaprestore: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is what one snaprestore process did.
type result struct {
	code           int
	stdout, stderr string
}

// snaprestore runs the binary with env as its only S3 settings (plus PATH and HOME).
func snaprestore(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run snaprestore %v: %v", args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}
