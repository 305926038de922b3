package cluster

import (
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line string
		want       procStat
		wantErr    bool
	}{
		{
			name: "plain",
			line: "7432 (cat) R 7430 7430 18816 0 -1 4194304 100 0 0 0 25 7 0 0 20 0 1 0 103453 3133440 388",
			want: procStat{comm: "cat", ppid: 7430, cpu: 320 * time.Millisecond},
		},
		{
			name: "command with spaces and parentheses",
			line: "12 (kube apiserver (x)) S 1 12 12 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 5",
			want: procStat{comm: "kube apiserver (x)", ppid: 1, cpu: 1500 * time.Millisecond},
		},
		{name: "no command", line: "12 S 1", wantErr: true},
		{name: "truncated", line: "12 (x) S 1 12", wantErr: true},
		{name: "not a number", line: "12 (x) S 1 12 12 0 -1 0 0 0 0 0 ab 50 0", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStat(tc.line)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseStat(%q) error = %v; want error %t", tc.line, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("parseStat(%q) = %+v; want %+v", tc.line, got, tc.want)
			}
		})
	}
}

// TestCPUTimeCountsThisProcess burns 200ms of CPU, as getrusage counts it,
// and expects CPUTime (from /proc) to have grown as much, give or take two
// 10ms ticks. No wall-clock bound: a busy machine only makes the loop longer.
func TestCPUTimeCountsThisProcess(t *testing.T) {
	before, err := CPUTime()
	if err != nil {
		t.Fatalf("CPUTime: %v", err)
	}
	r0 := rusageCPU(t)
	x := 0
	for rusageCPU(t)-r0 < 200*time.Millisecond {
		x++
	}
	burnt := rusageCPU(t) - r0
	after, err := CPUTime()
	if err != nil {
		t.Fatalf("CPUTime: %v", err)
	}
	if got := after - before; got < burnt-2*clockTick {
		t.Errorf("CPUTime grew by %v while getrusage counted %v (%d iterations); expected at least %v", got, burnt, x, burnt-2*clockTick)
	}
}

func rusageCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
