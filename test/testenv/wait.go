package testenv

import (
	"fmt"
	"net"
	"sync"
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

// handedOut holds every port FreePorts returned in this process. Between its
// return and the caller's bind a port is free again, and the kernel may offer
// it to the next caller: two webhook processes started back to back were
// given the same port, and the second to bind failed "address already in
// use". So a port is handed out once per process.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePorts asks the kernel for n distinct unused loopback ports that this process
// has not been given before, holding each until all are found.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	handedOut.Lock()
	defer handedOut.Unlock()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l) // held, given out or not, so the kernel offers another
		if p := l.Addr().(*net.TCPAddr).Port; !handedOut.ports[p] {
			handedOut.ports[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}
