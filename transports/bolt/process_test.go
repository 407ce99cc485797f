package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

// childEnv makes the test binary, run again by a test, a child process:
// "append" publishes to the file $BOLT_TEST_FILE and prints each acked id.
const childEnv = "BOLT_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "append" {
		appendForever(os.Getenv("BOLT_TEST_FILE"))
	}
	code := m.Run()
	caddytest.Cleanup()
	os.Exit(code)
}

// appendForever publishes from four goroutines until it is killed,
// printing "<id> <data>" once each Append has returned.
func appendForever(path string) {
	s, err := Open(path, time.Second, hub.TransportConfig{Retention: hub.Retention{History: 1_000_000}, Deliver: func([]*hub.Event) {}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	for g := range 4 {
		go func() {
			for n := 0; ; n++ {
				e := &hub.Event{Topics: []string{"t"}, Data: fmt.Sprintf("%d-%d", g, n)}
				if err := s.Append(context.Background(), []*hub.Event{e}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Printf("%s %s\n", e.ID, e.Data)
				mu.Unlock()
			}
		}()
	}
	select {}
}

func TestKill9KeepsEveryAckedEvent(t *testing.T) {
	path := dbPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=append", "BOLT_TEST_FILE="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	acked := make(map[string]string)
	for len(acked) < 300 && lines.Scan() {
		id, data, _ := strings.Cut(lines.Text(), " ")
		acked[id] = data
	}
	// While the child holds the file, another process cannot open it.
	if _, err := Open(path, 100*time.Millisecond, hub.TransportConfig{Deliver: func([]*hub.Event) {}}); err == nil ||
		!strings.Contains(err.Error(), "is in use by another process") {
		t.Errorf("opening the file the child holds: %v, want it named as in use", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() { // what it printed before it died was acked too
		id, data, _ := strings.Cut(lines.Text(), " ")
		acked[id] = data
	}
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("the child acked only %d events before it ended", len(acked))
	}
	o := openAt(t, path, hub.Retention{History: 1_000_000}, nil)
	rep := o.replay(hub.FormatID(o.epoch, 0))
	stored := make(map[string]string, len(rep.Events))
	for _, e := range rep.Events {
		stored[e.ID] = e.Data
	}
	for id, data := range acked {
		if got, ok := stored[id]; !ok || got != data {
			t.Fatalf("acked %s (%q) after kill -9: stored %q, present %v", id, data, got, ok)
		}
	}
	t.Logf("%d acked events, %d stored, all acked ones present", len(acked), len(stored))
}
