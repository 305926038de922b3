package measure

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Result is one timed run of a process.
type Result struct {
	Wall   time.Duration // the process and the sync after it
	MaxRSS int64         // peak resident set, bytes
	Stderr string        // what the process wrote to stderr
}

// Command runs cmd, then sync(2), and reports the wall time of both, the
// process's peak RSS and its stderr. A failed run's error holds its output.
func Command(cmd *exec.Cmd) (Result, error) {
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w\n%s%s", cmd, err, out, errOut.Bytes())
	}
	syscall.Sync()
	res := Result{Wall: time.Since(start), Stderr: errOut.String()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.MaxRSS = ru.Maxrss * 1024
	}
	return res, nil
}

// Median returns the run with the median wall time, with the largest peak RSS
// of all runs. runs must not be empty.
func Median(runs []Result) Result {
	sorted := slices.SortedFunc(slices.Values(runs), func(a, b Result) int { return cmp.Compare(a.Wall, b.Wall) })
	m := sorted[len(sorted)/2]
	for _, r := range runs {
		m.MaxRSS = max(m.MaxRSS, r.MaxRSS)
	}
	return m
}

// Verdict names whether a goal was met: PASS or MISS.
func Verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// Setup makes the snaprestore binary's path absolute and returns the work
// directory: dir, or a new one under $TMPDIR named after pattern when dir is
// empty. The caller removes it.
func Setup(bin, dir, pattern string) (absBin, workDir string, err error) {
	if absBin, err = filepath.Abs(bin); err != nil {
		return "", "", err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", pattern); err != nil {
			return "", "", err
		}
	}
	return absBin, dir, nil
}
