package bolt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

// caddyServer is Caddy (the built cmd/caddy, a child process) serving an sse
// route with publish on a bolt file.
type caddyServer struct {
	t      *testing.T
	port   int
	cmd    *exec.Cmd
	logs   *caddytest.Buffer
	exited chan struct{}
}

// startCaddy runs Caddy with /events on the bolt file db, retrying on
// fresh ports when another process took one first.
func startCaddy(t *testing.T, db string) *caddyServer {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := tryStartCaddy(t, db)
		if err == nil {
			t.Cleanup(s.kill)
			return s
		}
		if attempt == 3 || !strings.Contains(s.logs.String(), "address already in use") {
			t.Fatalf("%v\n%s", err, s.logs)
		}
	}
}

func tryStartCaddy(t *testing.T, db string) (*caddyServer, error) {
	dir := t.TempDir()
	s := &caddyServer{t: t, port: caddytest.FreePort(t), logs: new(caddytest.Buffer), exited: make(chan struct{})}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	storage file_system %s
	log {
		level WARN
	}
}
http://127.0.0.1:%d {
	sse /events {
		publish
		history 100
		heartbeat 0
		transport bolt %s
	}
}
`, caddytest.FreePort(t), filepath.Join(dir, "data"), s.port, db)
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(caddytest.Binary(t), "run", "--config", cfgPath, "--adapter", "caddyfile")
	s.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return s, errors.New("caddy exited")
		default:
		}
		req, _ := http.NewRequest(http.MethodOptions, s.url(), nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "Caddy" {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.kill()
	return s, errors.New("caddy did not answer within 30s")
}

func (s *caddyServer) url() string { return fmt.Sprintf("http://127.0.0.1:%d/events", s.port) }

// stop ends Caddy gracefully and waits for it.
func (s *caddyServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.t.Fatalf("caddy did not stop within 20s\n%s", s.logs)
	}
}

// kill ends Caddy with SIGKILL, if it still runs.
func (s *caddyServer) kill() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
}

// publish posts one event to topic "a" and returns its id.
func (s *caddyServer) publish(data string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"topic": "a", "data": data})
	resp, err := http.Post(s.url(), "application/json", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var ack struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("publish: status %d, %v", resp.StatusCode, err)
	}
	return ack.ID
}

// sseEvent is one event read from a stream.
type sseEvent struct{ id, name, data string }

type stream struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

// subscribe opens a stream on topic "a", resuming from lastID if set, and
// reads its connected event.
func (s *caddyServer) subscribe(lastID string) *stream {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url()+"?topic=a", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("subscribe: status %d", resp.StatusCode)
	}
	st := &stream{t: s.t, resp: resp, r: bufio.NewReader(resp.Body)}
	s.t.Cleanup(func() { resp.Body.Close() })
	if e := st.next(); e.name != "connected" {
		s.t.Fatalf("first event %+v, want connected", e)
	}
	return st
}

// next reads the next event, failing the test after 10s.
func (st *stream) next() sseEvent {
	st.t.Helper()
	timer := time.AfterFunc(10*time.Second, func() { st.resp.Body.Close() })
	defer timer.Stop()
	var e sseEvent
	for {
		line, err := st.r.ReadString('\n')
		if err != nil {
			st.t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		field, value, _ := strings.Cut(line, ": ")
		switch {
		case line == "" && (e.data != "" || e.name != ""):
			return e
		case field == "id":
			e.id = value
		case field == "event":
			e.name = value
		case field == "data":
			e.data = value
		}
	}
}

func TestResumeAcrossCaddyRestarts(t *testing.T) {
	// A client resumes across a graceful restart and across kill -9, with
	// no reset and with every event it missed.
	db := filepath.Join(t.TempDir(), "hub.db")
	srv := startCaddy(t, db)
	st := srv.subscribe("")
	first := srv.publish("one")
	if e := st.next(); e.id != first || e.data != "one" {
		t.Fatalf("live event %+v, want id %s", e, first)
	}
	st.resp.Body.Close()
	missed := []string{srv.publish("two"), srv.publish("three")}
	srv.stop()

	srv = startCaddy(t, db)
	st = srv.subscribe(first)
	for i, id := range missed {
		e := st.next()
		if e.name == "reset" {
			t.Fatalf("resume after restart got a reset: %s", e.data)
		}
		if e.id != id {
			t.Fatalf("replayed event %d: %+v, want id %s", i, e, id)
		}
	}
	live := srv.publish("four")
	if e := st.next(); e.id != live || e.data != "four" {
		t.Fatalf("live event after the replay %+v, want %s", e, live)
	}
	st.resp.Body.Close()
	lost := srv.publish("five")
	srv.kill()

	srv = startCaddy(t, db)
	st = srv.subscribe(live)
	if e := st.next(); e.name == "reset" || e.id != lost || e.data != "five" {
		t.Fatalf("resume after kill -9: %+v, want %s without reset", e, lost)
	}
}
