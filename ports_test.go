package caddysse

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

// TestServerPortTakenIsDetected: when another process took the site's port
// before Caddy bound it, and even answers HTTP there, the start is seen as
// failed for that reason (so startServerFor retries on fresh ports) rather
// than as a running Caddy.
func TestServerPortTakenIsDetected(t *testing.T) {
	thief, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	go http.Serve(thief, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "not caddy")
	}))
	port := thief.Addr().(*net.TCPAddr).Port

	s, err := tryStartServer(t, pathDetached, pubsubSite, port, caddytest.FreePort(t), nil)
	if err == nil {
		s.close()
		t.Fatal("a port held by another HTTP server was taken for Caddy's")
	}
	if !strings.Contains(s.logs.String(), errAddrInUse) {
		t.Fatalf("caddy failed without saying %q: %v\n%s", errAddrInUse, err, s.logs)
	}

	// startServer gets past such failures; the server it returns is Caddy.
	s = startServer(t, pubsubSite)
	if !s.answersAsCaddy() {
		t.Fatalf("startServer returned a server on %d that is not Caddy", s.port)
	}
}
