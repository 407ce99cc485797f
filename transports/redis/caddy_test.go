package redis

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

// The cluster tests run the Caddy of ./cmd/caddy, built once per test
// binary, as separate processes sharing one redis-server.

func TestMain(m *testing.M) {
	code := m.Run()
	caddytest.Cleanup()
	os.Exit(code)
}

// caddyNode is one Caddy process serving an sse route on a loopback port.
type caddyNode struct {
	t      *testing.T
	port   int
	cmd    *exec.Cmd
	logs   *caddytest.Buffer
	exited chan struct{}
}

// startCaddy runs a node whose sse block holds the given lines besides
// publish; {redis} in them is replaced with the server's URL.
func startCaddy(t *testing.T, r *redisServer, sse string) *caddyNode {
	t.Helper()
	for attempt := 1; ; attempt++ {
		n, err := tryStartCaddy(t, r, sse)
		if err == nil {
			t.Cleanup(n.stop)
			return n
		}
		if attempt == 5 || !strings.Contains(n.logs.String(), "address already in use") {
			t.Fatalf("%v\n%s", err, n.logs)
		}
	}
}

func tryStartCaddy(t *testing.T, r *redisServer, sse string) (*caddyNode, error) {
	dir := t.TempDir()
	n := &caddyNode{t: t, port: caddytest.FreePort(t), logs: new(caddytest.Buffer), exited: make(chan struct{})}
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	storage file_system %s
	log {
		level ERROR
	}
}
http://127.0.0.1:%d {
	sse {
		publish
%s
	}
}
`, filepath.Join(dir, "data"), n.port, strings.ReplaceAll(sse, "{redis}", r.url()))
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(caddytest.Binary(t), "run", "--config", path, "--adapter", "caddyfile")
	n.cmd.Dir = dir
	n.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !n.answers() {
		select {
		case <-n.exited:
			return n, fmt.Errorf("caddy exited")
		default:
		}
		if time.Now().After(deadline) {
			n.stop()
			return n, fmt.Errorf("caddy did not answer within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n, nil
}

// answers reports whether Caddy serves the port (OPTIONS opens no stream).
func (n *caddyNode) answers() bool {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodOptions, n.url(), nil)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.Header.Get("Server") == "Caddy"
}

func (n *caddyNode) stop() {
	select {
	case <-n.exited:
	default:
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
	if strings.Contains(n.logs.String(), "DATA RACE") {
		n.t.Errorf("caddy reported a data race:\n%s", n.logs)
	}
}

func (n *caddyNode) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", n.port) }

// publishResult is a publish's answer.
type publishResult struct {
	status     int
	id         string
	err        string
	retryAfter string
}

// publish posts one event as JSON.
func (n *caddyNode) publish(topic, data string) publishResult {
	n.t.Helper()
	body, _ := json.Marshal(map[string]string{"topic": topic, "data": data})
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Post(n.url(), "application/json", strings.NewReader(string(body)))
	if err != nil {
		return publishResult{err: err.Error()}
	}
	defer resp.Body.Close()
	var answer struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &answer)
	return publishResult{status: resp.StatusCode, id: answer.ID, err: answer.Error, retryAfter: resp.Header.Get("Retry-After")}
}

func (n *caddyNode) mustPublish(topic, data string) string {
	n.t.Helper()
	res := n.publish(topic, data)
	if res.status != http.StatusOK || res.id == "" {
		n.t.Fatalf("publish %q on :%d: %+v\n%s", data, n.port, res, n.logs)
	}
	return res.id
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	id, name, data string
}

// sseStream is an open stream whose events a goroutine reads.
type sseStream struct {
	t      *testing.T
	body   io.Closer
	events chan sseEvent
}

// subscribe opens a stream of the topic, resuming from lastID if set, and
// reads its "connected" event.
func (n *caddyNode) subscribe(topic, lastID string) *sseStream {
	n.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.url()+"?topic="+topic, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		n.t.Fatalf("subscribe on :%d: status %d", n.port, resp.StatusCode)
	}
	s := &sseStream{t: n.t, body: resp.Body, events: make(chan sseEvent, 10_000)}
	go s.read(resp.Body)
	n.t.Cleanup(func() { s.body.Close() })
	if e := s.next(); e.name != "connected" {
		n.t.Fatalf("the stream opened with %+v, want connected", e)
	}
	return s
}

func (s *sseStream) read(body io.Reader) {
	defer close(s.events)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var e sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				e.data = strings.Join(data, "\n")
				s.events <- e
			}
			e, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			e.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			e.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[len("data: "):])
		}
	}
}

// next returns the next event, failing the test after 15s or at the
// stream's end.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		return e
	case <-time.After(15 * time.Second):
		s.t.Fatal("no event within 15s")
	}
	return sseEvent{}
}

// quiet reports whether no event arrives for a moment.
func (s *sseStream) quiet(d time.Duration) (sseEvent, bool) {
	select {
	case e, ok := <-s.events:
		return e, !ok
	case <-time.After(d):
		return sseEvent{}, true
	}
}
