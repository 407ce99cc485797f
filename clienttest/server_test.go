package clienttest

// The harness: the Caddy of ../cmd/caddy, built once, run as a child
// process on random ports with its own directory.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce   sync.Once
	buildDir    string
	caddyBinary string
	buildErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildCaddy builds ../cmd/caddy, the Caddy with this repository's module.
func buildCaddy(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "caddy-sse-clienttest-"); buildErr != nil {
			return
		}
		caddyBinary = filepath.Join(buildDir, "caddy")
		cmd := exec.Command("go", "build", "-o", caddyBinary, "./cmd/caddy")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building ../cmd/caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return caddyBinary
}

// server is one Caddy process.
type server struct {
	t       *testing.T
	dir     string
	port    int
	admin   string // the admin API's unix socket
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
	waitErr error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer runs Caddy with the site body. No port is chosen and then
// bound later, which another process could take in between: the test binds
// the site's listener itself and hands it to Caddy as file descriptor 3
// (Caddy's "fd/3" network address, which survives reloads), and the admin
// API listens on a unix socket in the server's own directory.
func startServer(t *testing.T, site string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	file, err := ln.(*net.TCPListener).File()
	ln.Close() // file holds a duplicate of the socket
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close() // the child has its own copy once started
	s := &server{t: t, dir: t.TempDir(), port: ln.Addr().(*net.TCPAddr).Port, logs: new(syncBuffer), exited: make(chan struct{})}
	s.admin = filepath.Join(s.dir, "admin.sock")
	cfg := s.writeConfig(site)
	s.cmd = exec.Command(buildCaddy(t), "run", "--config", cfg, "--adapter", "caddyfile")
	s.cmd.Dir = s.dir
	s.cmd.Env = append(os.Environ(), "HOME="+s.dir, "XDG_DATA_HOME="+s.dir, "XDG_CONFIG_HOME="+s.dir)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.ExtraFiles = []*os.File{file} // fd 3
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.close)
	deadline := time.Now().Add(60 * time.Second)
	for !s.ready() {
		select {
		case <-s.exited:
			t.Fatalf("caddy exited: %v\n%s", s.waitErr, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not start serving:\n%s", s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// ready reports whether Caddy serves the site. Connections queue on the
// socket from the start; this waits for the answer.
func (s *server) ready() bool {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(s.url("/ready"))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *server) writeConfig(site string) string {
	cfg := fmt.Sprintf(`{
	admin unix/%s
	auto_https off
	persist_config off
	storage file_system %s
	log {
		level WARN
	}
}
http://127.0.0.1:%d {
	bind fd/3
	respond /ready "ready" 200
%s
}
`, s.admin, filepath.Join(s.dir, "data"), s.port, site)
	path := filepath.Join(s.dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

func (s *server) close() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *server) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path)
}

// forceReload loads the site again through the admin API. Cache-Control:
// must-revalidate makes Caddy restart the config even though it is
// unchanged, which ends the old config's streams.
func (s *server) forceReload(site string) {
	s.t.Helper()
	cfg, err := os.ReadFile(s.writeConfig(site))
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/load", bytes.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	admin := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, "unix", s.admin)
	}}}
	resp, err := admin.Do(req)
	if err != nil {
		s.t.Fatalf("reload: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("reload: %s: %s", resp.Status, msg)
	}
}

// publishClient opens a connection per publish: a kept-alive one may be
// closed by the old config of a reload between requests.
var publishClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// published is an event as the hub acknowledged it.
type published struct {
	ID, Name, Data string
}

// publish publishes one event on the topic and returns it with its id.
// A connection the old config of a reload accepted as it shut down is reset
// before its request is read; such a publish is sent again.
func (s *server) publish(topic, name, data string) published {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"topic": topic, "event": name, "data": data})
	for attempt := 1; ; attempt++ {
		resp, err := publishClient.Post(s.url("/publish"), "application/json", bytes.NewReader(body))
		if err != nil {
			if attempt < 5 {
				continue
			}
			s.t.Fatalf("publish: %v", err)
		}
		var out struct{ ID string }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || out.ID == "" {
			s.t.Fatalf("publish %s: status %d: %v", body, resp.StatusCode, err)
		}
		if name == "" {
			name = "message"
		}
		return published{ID: out.ID, Name: name, Data: data}
	}
}
