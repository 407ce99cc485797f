package caddysse

// The whole-server tests run the real Caddy of cmd/caddy, built once per
// test run (with -race when the tests run with it), as a child process with
// its own ports and directory: they exercise the module as a user does,
// including reload and stop, which an in-process Caddy cannot survive.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	caddytest.Cleanup()
	os.Exit(code)
}

// testServer is a Caddy process serving one test's Caddyfile.
type testServer struct {
	t    *testing.T
	dir  string
	port int
	// tlsPort, when set, serves the site over TLS too, for streams.
	tlsPort int
	admin   string
	cmd     *exec.Cmd
	logs    *caddytest.Buffer
	// client opens streams: HTTP/1.1, which the module detaches from the
	// request, or h2c, which keeps its goroutine.
	client *http.Client
	// exited is closed when the process has ended; waitErr says how.
	exited  chan struct{}
	waitErr error
}

// errAddrInUse is how Caddy reports a listener address another process has.
const errAddrInUse = "address already in use"

// The ways a stream is served, which the tests of stream behaviour run
// over: an HTTP/1.1 stream, plain or over TLS, is detached from its request
// and written by the hub's pool; an HTTP/2 one (h2c here) keeps its
// serving goroutine. On the TLS path only streams use TLS (Caddy's
// internal CA); publishes and the rest stay on the plain port.
const (
	pathDetached  = "h1-detached"
	pathTLS       = "h1-tls-detached"
	pathGoroutine = "h2c-goroutine"
)

// forEachPath runs a test once for each way a stream is served.
func forEachPath(t *testing.T, test func(t *testing.T, path string)) {
	for _, path := range []string{pathDetached, pathTLS, pathGoroutine} {
		t.Run(path, func(t *testing.T) { test(t, path) })
	}
}

func clientFor(path string) *http.Client {
	var p http.Protocols
	if path == pathGoroutine {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{Protocols: &p}
	if path == pathTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // Caddy's internal CA
	}
	return &http.Client{Transport: tr}
}

// startServer runs Caddy with the given site body on a free port; {port}
// in the body is replaced with that port. Streams use HTTP/1.1.
func startServer(t *testing.T, site string) *testServer {
	t.Helper()
	return startServerFor(t, pathDetached, site)
}

// startServerFor is startServer with streams served the given way. When
// another process took one of the chosen ports before Caddy bound it, Caddy
// is started again on fresh ones.
func startServerFor(t *testing.T, path, site string) *testServer {
	t.Helper()
	return startServerWith(t, path, site)
}

// startServerWith is startServerFor with Caddy's command line prefixed by
// launcher, a command that runs its arguments (e.g. after lowering a limit).
func startServerWith(t *testing.T, path, site string, launcher ...string) *testServer {
	t.Helper()
	const attempts = 5
	for attempt := 1; ; attempt++ {
		s, err := tryStartServer(t, path, site, caddytest.FreePort(t), caddytest.FreePort(t), launcher)
		if err == nil {
			t.Cleanup(s.close)
			return s
		}
		if attempt == attempts || !strings.Contains(s.logs.String(), errAddrInUse) {
			t.Fatalf("%v\n%s", err, s.logs)
		}
		t.Logf("attempt %d: port %d or %s was taken before caddy bound it; trying fresh ports", attempt, s.port, s.admin)
	}
}

// tryStartServer starts Caddy with the site on port and its admin endpoint
// on adminPort, and waits until Caddy serves the site. On failure the
// process has ended and its output is in s.logs.
func tryStartServer(t *testing.T, path, site string, port, adminPort int, launcher []string) (*testServer, error) {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir(), port: port, logs: new(caddytest.Buffer), exited: make(chan struct{}), client: clientFor(path)}
	if path == pathTLS {
		s.tlsPort = caddytest.FreePort(t)
	}
	s.admin = fmt.Sprintf("127.0.0.1:%d", adminPort)
	cfg := s.writeConfig(site)
	args := append(slices.Clip(launcher), caddytest.Binary(t), "run", "--config", cfg, "--adapter", "caddyfile")
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Dir = s.dir
	s.cmd.Env = append(os.Environ(), "HOME="+s.dir, "XDG_DATA_HOME="+s.dir, "XDG_CONFIG_HOME="+s.dir)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.answersAsCaddy() {
			return s, nil
		}
		select {
		case <-s.exited:
			return s, fmt.Errorf("caddy exited: %v", s.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			s.close()
			return s, errors.New("caddy did not start listening within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answersAsCaddy reports whether the site's port is served by Caddy, not
// merely bound: a process that took the port first would accept connections
// too. OPTIONS, because it never opens a stream on an sse route.
func (s *testServer) answersAsCaddy() bool {
	// On the TLS path, the TLS port too: its certificate is issued after
	// the listeners start.
	tlsCfg := &tls.Config{InsecureSkipVerify: true}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsCfg}}
	for _, u := range slices.Compact([]string{s.url("/"), s.streamURL("/")}) {
		req, _ := http.NewRequest(http.MethodOptions, u, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.Header.Get("Server") != "Caddy" {
			return false
		}
	}
	return true
}

// writeConfig writes a Caddyfile for the site and returns its path.
func (s *testServer) writeConfig(site string) string {
	https := "auto_https off"
	if s.tlsPort != 0 {
		// Certificates from Caddy's internal CA, kept out of the system's
		// trust store; no redirects from the plain port.
		https = "auto_https disable_redirects\n\tskip_install_trust"
	}
	cfg := fmt.Sprintf(`{
	admin %s
	%s
	persist_config off
	servers {
		protocols h1 h2c
	}
	storage file_system %s
	log {
		level WARN
	}
}
%s {
%s
}
`, s.admin, https, filepath.Join(s.dir, "data"), s.siteAddress(), s.siteBody(site))
	path := filepath.Join(s.dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// siteAddress is the test site's address: the plain port, and on the TLS
// path the TLS port as well.
func (s *testServer) siteAddress() string {
	addr := fmt.Sprintf("http://127.0.0.1:%d", s.port)
	if s.tlsPort != 0 {
		addr += fmt.Sprintf(", https://127.0.0.1:%d", s.tlsPort)
	}
	return addr
}

// siteBody is the site as the test gave it, with the test transport, and
// on the TLS path a certificate of Caddy's internal CA.
func (s *testServer) siteBody(site string) string {
	site = withTestTransport(strings.ReplaceAll(site, "{port}", fmt.Sprint(s.port)))
	if s.tlsPort != 0 {
		site = "tls internal\n" + site
	}
	return site
}

// testTransport is the transport the server tests run every hub on:
// SSE_TEST_TRANSPORT (e.g. "bolt"), else the default. `.ci/run` runs the
// suite once for each transport.
func testTransport() string { return cmp.Or(os.Getenv("SSE_TEST_TRANSPORT"), "memory") }

// withTestTransport gives every sse block of a site without a transport
// of its own the test transport.
func withTestTransport(site string) string {
	tr := testTransport()
	if tr == "memory" || strings.Contains(site, "transport ") {
		return site
	}
	lines := strings.Split(site, "\n")
	for i, l := range lines {
		directive := strings.TrimSpace(l)
		if directive != "sse" && !strings.HasPrefix(directive, "sse ") {
			continue
		}
		if strings.HasSuffix(directive, "{") {
			lines[i] = l + "\n\ttransport " + tr
		} else {
			lines[i] = l + " {\n\ttransport " + tr + "\n}"
		}
	}
	return strings.Join(lines, "\n")
}

func (s *testServer) close() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if logs := s.logs.String(); strings.Contains(logs, "DATA RACE") {
		s.t.Errorf("the server reported a data race:\n%s", logs)
	}
}

// url is the address of path on the test site.
func (s *testServer) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path)
}

// streamURL is the address streams are opened on: the TLS port on the TLS
// path, else url.
func (s *testServer) streamURL(path string) string {
	if s.tlsPort != 0 {
		return fmt.Sprintf("https://127.0.0.1:%d%s", s.tlsPort, path)
	}
	return s.url(path)
}

// reload loads a new site body through the admin API.
func (s *testServer) reload(site string) {
	s.t.Helper()
	body, err := os.ReadFile(s.writeConfig(site))
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.admin+"/load", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("reload: %s: %s", resp.Status, msg)
	}
	s.dropIdleConnections()
}

// dropIdleConnections forgets the test's pooled connections after a
// config change. The old config's server closes its idle connections as
// it stops; a POST sent on one of them as it closes would fail with EOF,
// and net/http retries a POST only when it carries an Idempotency-Key.
func (s *testServer) dropIdleConnections() {
	http.DefaultClient.CloseIdleConnections()
	s.client.CloseIdleConnections()
}

// publish POSTs a JSON body and decodes the response.
func (s *testServer) publish(path, body string) (int, map[string]any) {
	s.t.Helper()
	resp, err := http.Post(s.url(path), "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// mustPublish publishes and returns the event's id.
func (s *testServer) mustPublish(path, body string) string {
	s.t.Helper()
	status, out := s.publish(path, body)
	if status != http.StatusOK {
		s.t.Fatalf("publish %s: status %d: %v", body, status, out)
	}
	id, _ := out["id"].(string)
	return id
}

// sseEvent is one dispatched event as a browser would see it, or a comment.
type sseEvent struct {
	ID, Name, Data, Comment string
	Retry                   string
}

// stream is an open subscription read by a test.
type stream struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
	raw    *caddytest.Buffer
	// lastRetry is the last retry field read, applied when its line is
	// read, as the EventSource parser does, whether or not a block follows.
	lastRetry atomic.Value
	// strayBlanks counts blank lines that dispatch no event: a block
	// without data, or a blank line of its own. Browsers ignore them, but
	// go-sse, r3labs/sse and fetch-event-source dispatch empty messages.
	strayBlanks atomic.Int64
	// err is why reading ended, nil at the body's clean end; it is set
	// before events is closed.
	err error
}

// subscribe opens a stream; header pairs are added to the request.
func (s *testServer) subscribe(path string, header ...string) *stream {
	s.t.Helper()
	st, status := s.trySubscribe(path, header...)
	if status != http.StatusOK {
		s.t.Fatalf("subscribe %s: status %d", path, status)
	}
	return st
}

func (s *testServer) trySubscribe(path string, header ...string) (*stream, int) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.streamURL(path), nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		s.t.Logf("subscribe %s: %v", path, err)
		return nil, 0
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	st := &stream{t: s.t, resp: resp, events: make(chan sseEvent, 1024), cancel: cancel, raw: new(caddytest.Buffer)}
	go st.read()
	s.t.Cleanup(st.close)
	s.t.Cleanup(func() {
		if n := st.strayBlanks.Load(); n > 0 {
			st.t.Errorf("the stream had %d blank lines that dispatch no event (several clients dispatch each as an empty message):\n%s", n, st.raw)
		}
	})
	return st, resp.StatusCode
}

func (st *stream) close() {
	st.cancel()
	st.resp.Body.Close()
}

// read parses the stream by the EventSource rules and delivers events and
// comments; the channel is closed when the stream ends.
func (st *stream) read() {
	defer close(st.events)
	body, err := decodedBody(st.resp)
	if err != nil {
		st.err = err
		return
	}
	sc := bufio.NewScanner(io.TeeReader(body, st.raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	var data []string
	hasData := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if hasData {
				ev.Data = strings.Join(data, "\n")
				st.events <- ev
			} else {
				st.strayBlanks.Add(1)
			}
			ev, data, hasData = sseEvent{}, nil, false
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			st.events <- sseEvent{Comment: value}
		case "id":
			ev.ID = value
		case "event":
			ev.Name = value
		case "data":
			data, hasData = append(data, value), true
		case "retry":
			ev.Retry = value
			st.lastRetry.Store(value)
		}
	}
	st.err = sc.Err()
}

// next returns the next event or comment, failing after a while.
func (st *stream) next() sseEvent {
	st.t.Helper()
	select {
	case ev, ok := <-st.events:
		if !ok {
			st.t.Fatalf("stream ended; it carried:\n%s", st.raw)
		}
		return ev
	case <-time.After(10 * time.Second):
		st.t.Fatalf("no event within 10s; the stream carried:\n%s", st.raw)
	}
	return sseEvent{}
}

// retry is the last retry field the stream carried, "" when none.
func (st *stream) retry() string {
	v, _ := st.lastRetry.Load().(string)
	return v
}

// nextEvent skips comments.
func (st *stream) nextEvent() sseEvent {
	st.t.Helper()
	for {
		if ev := st.next(); ev.Comment == "" && (ev.Name != "" || ev.ID != "" || ev.Data != "") {
			return ev
		}
	}
}

// ended waits for the stream to end and returns what came before.
func (st *stream) ended(within time.Duration) []sseEvent {
	st.t.Helper()
	var got []sseEvent
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-timeout:
			st.t.Fatalf("stream still open after %s; it carried:\n%s", within, st.raw)
		}
	}
}
