package testenv

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// PollTimeout bounds every Poll: far above what any wait takes on a loaded 2-core
// machine, far below the test binary's -timeout, so a wait that never ends fails with
// the name of what it waited for instead of hanging the run.
const PollTimeout = 3 * time.Minute

// Poll calls cond every 50 ms until it holds, and fails the test naming what it waited
// for when PollTimeout passes first. It is a bound against hangs, not a time limit on
// the behaviour under test.
func Poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(PollTimeout); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; it did not happen", PollTimeout, what)
		}
	}
}

// FreePort is an unused loopback TCP port (the kernel's choice; it is free when
// returned, so bind it soon).
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

// FreePorts asks the kernel for n distinct unused loopback ports, holding each until all
// are found.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
