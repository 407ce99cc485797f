// Package caddytest builds the project's Caddy (cmd/caddy) once per test
// binary, for tests that run it as a child process, as a user does.
package caddytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	once   sync.Once
	binary string
	err    error
)

// Binary returns the path of cmd/caddy built for this test binary (with
// -race when the tests run with it), building it on first use. Cleanup
// removes it once the tests are done.
func Binary(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		dir, mkErr := os.MkdirTemp("", "caddy-sse-bin-")
		if mkErr != nil {
			err = mkErr
			return
		}
		binary = filepath.Join(dir, "caddy")
		args := []string{"build", "-o", binary}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, buildErr := exec.Command("go", append(args, "github.com/caddy-sse/caddy-sse/cmd/caddy")...).CombinedOutput()
		if buildErr != nil {
			err = fmt.Errorf("building caddy: %v\n%s", buildErr, out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return binary
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
}
