package caddytest

import (
	"net"
	"testing"
)

// TestFreePortOutsideEphemeralRange: the ports the tests that run Caddy choose are
// ones the kernel does not hand out to other processes meanwhile, and never
// the same twice.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	lo, hi := PortRange()
	seen := make(map[int]bool)
	for range 50 {
		port := FreePort(t)
		if port < lo || port > hi {
			t.Fatalf("FreePort returned %d, outside %d-%d", port, lo, hi)
		}
		if seen[port] {
			t.Fatalf("FreePort returned %d twice", port)
		}
		seen[port] = true
	}
	// An outgoing connection's local port is ephemeral: never in our range.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if port := l.Addr().(*net.TCPAddr).Port; port >= lo && port <= hi {
		t.Errorf("the kernel handed out %d, inside the test range %d-%d", port, lo, hi)
	}
}
