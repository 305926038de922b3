package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// CPUTime is the user+system CPU time used so far by this process and its
// running descendants (etcd and kube-apiserver): the whole system under test.
// On a machine shared with other work it is steadier than wall time.
func CPUTime() (time.Duration, error) {
	by, err := CPUTimes()
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, d := range by {
		total += d
	}
	return total, nil
}

// SelfName is the key of this process in CPUTimes.
const SelfName = "self"

// CPUTimes is CPUTime by process: this process under SelfName, its
// descendants under their command names (etcd, kube-apiserver).
func CPUTimes() (map[string]time.Duration, error) {
	procs, err := readProcs()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	by := map[string]time.Duration{}
	seen := map[int]bool{self: true}
	queue := []int{self}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		name := procs[pid].comm
		if pid == self {
			name = SelfName
		}
		by[name] += procs[pid].cpu
		for child, p := range procs {
			if p.ppid == pid && !seen[child] {
				seen[child] = true
				queue = append(queue, child)
			}
		}
	}
	return by, nil
}

type procStat struct {
	comm string // command name, at most 15 bytes
	ppid int
	cpu  time.Duration
}

// readProcs reads the parent and CPU time of every process in /proc.
func readProcs() (map[int]procStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("read /proc (CPU time needs Linux procfs): %w", err)
	}
	procs := map[int]procStat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		p, err := parseStat(string(b))
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		procs[pid] = p
	}
	return procs, nil
}

// parseStat reads ppid (field 4), utime (14) and stime (15) of a
// /proc/<pid>/stat line; the command name (field 2) may contain spaces, so
// fields are counted after its closing parenthesis.
func parseStat(line string) (procStat, error) {
	i := strings.LastIndexByte(line, ')')
	lp := strings.IndexByte(line, '(')
	if i < 0 || lp < 0 || lp > i {
		return procStat{}, fmt.Errorf("no command name in %q", line)
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("%d fields after the command name; expected at least 13", len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	utime, err2 := strconv.ParseInt(f[11], 10, 64)
	stime, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("ppid/utime/stime %q %q %q: expected integers", f[1], f[11], f[12])
	}
	return procStat{comm: line[lp+1 : i], ppid: ppid, cpu: time.Duration(utime+stime) * clockTick}, nil
}
