package hub

import (
	"os/exec"
	"strings"
	"testing"
)

// The hub knows nothing of HTTP or Caddy: transports in other packages
// import it, and the module at the root adapts it. The compiler keeps that
// true only if no Caddy package creeps into its imports.
func TestHubImportsNoCaddy(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/caddyserver/") ||
			(strings.HasPrefix(dep, "github.com/caddy-sse/caddy-sse") && dep != "github.com/caddy-sse/caddy-sse/hub") {
			t.Errorf("the hub package depends on %s", dep)
		}
	}
}
