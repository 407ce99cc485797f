package caddytest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a port on 127.0.0.1 that nothing listens on. Caddy binds
// it only after it has started, seconds later, so the port must not be one
// the kernel hands out meanwhile to another process's outgoing connection
// or `:0` listener: it is chosen outside the ephemeral range
// (net.ipv4.ip_local_port_range), never twice in one test binary, and
// checked by binding it. A test that starts Caddy should still retry when
// another process took it first.
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := PortRange()
	for range 100 {
		port := lo + rand.IntN(hi-lo+1)
		if !claimPort(port) {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatalf("no free port in %d-%d after 100 tries", lo, hi)
	return 0
}

// claimedPorts are the ports FreePort has handed out in this test binary.
var claimedPorts struct {
	sync.Mutex
	m map[int]bool
}

// claimPort records port as handed out; false if it already was.
func claimPort(port int) bool {
	claimedPorts.Lock()
	defer claimedPorts.Unlock()
	if claimedPorts.m[port] {
		return false
	}
	if claimedPorts.m == nil {
		claimedPorts.m = make(map[int]bool)
	}
	claimedPorts.m[port] = true
	return true
}

// PortRange is the range FreePort picks from: the ports between 10000 and
// the start of the kernel's ephemeral range (Linux's default is
// 32768-60999), or above its end when the range starts too low.
func PortRange() (lo, hi int) {
	ephLo, ephHi := 32768, 60999
	if raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(raw)); len(f) == 2 {
			a, errA := strconv.Atoi(f[0])
			b, errB := strconv.Atoi(f[1])
			if errA == nil && errB == nil && a <= b {
				ephLo, ephHi = a, b
			}
		}
	}
	if ephLo-1 >= 10000+1000 {
		return 10000, ephLo - 1
	}
	return ephHi + 1, 65535
}
