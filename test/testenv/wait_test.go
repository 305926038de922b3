package testenv

import "testing"

// TestFreePortsNeverTwice: ports handed out by successive calls, each closed
// before the next call as a caller's bind would be late, are all distinct.
func TestFreePortsNeverTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 100 {
		ports, err := FreePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
		}
	}
}
