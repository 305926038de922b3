package measure

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Result is one timed run of a process.
type Result struct {
	Wall time.Duration // the process and the sync after it
	// MaxRSS is the peak resident set (getrusage): the process's own memory
	// and every page of its executable the kernel mapped, which for the
	// 95 MB snaprestore binary is 40 to 50 MiB of shared, clean page cache
	// whatever the command does (the kernel maps pages around each fault).
	MaxRSS int64
	// MaxAnon is the peak anonymous resident memory (RssAnon in
	// /proc/<pid>/status, sampled every few ms): what the process allocated,
	// the memory a restore's buffers and heap take.
	MaxAnon int64
	Stderr  string // what the process wrote to stderr
}

// anonSample is how often Command reads a running process's RssAnon.
const anonSample = 5 * time.Millisecond

// Command runs cmd, then sync(2), and reports the wall time of both, the
// process's peak RSS and anonymous memory and its stderr. A failed run's
// error holds its output.
func Command(cmd *exec.Cmd) (Result, error) {
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("%s: %w", cmd, err)
	}
	stop, peak := make(chan struct{}), make(chan int64)
	go func() { peak <- samplePeakAnon(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	close(stop)
	maxAnon := <-peak
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w\n%s%s", cmd, err, out.Bytes(), errOut.Bytes())
	}
	syscall.Sync()
	res := Result{Wall: time.Since(start), MaxAnon: maxAnon, Stderr: errOut.String()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.MaxRSS = ru.Maxrss * 1024
	}
	return res, nil
}

// samplePeakAnon returns the largest RssAnon of process pid read until stop
// is closed.
func samplePeakAnon(pid int, stop <-chan struct{}) int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	t := time.NewTicker(anonSample)
	defer t.Stop()
	var peak int64
	for {
		if data, err := os.ReadFile(path); err == nil {
			peak = max(peak, rssAnon(data))
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

// rssAnon parses the RssAnon line of a /proc/<pid>/status, in bytes; 0
// when there is none.
func rssAnon(status []byte) int64 {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("RssAnon:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest) // "12345", "kB"
		if len(f) == 2 && string(f[1]) == "kB" {
			if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// Median returns the run with the median wall time, with the largest peak RSS
// and anonymous memory of all runs. runs must not be empty.
func Median(runs []Result) Result {
	sorted := slices.SortedFunc(slices.Values(runs), func(a, b Result) int { return cmp.Compare(a.Wall, b.Wall) })
	m := sorted[len(sorted)/2]
	for _, r := range runs {
		m.MaxRSS = max(m.MaxRSS, r.MaxRSS)
		m.MaxAnon = max(m.MaxAnon, r.MaxAnon)
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
