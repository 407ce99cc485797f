package caddysse

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// readmeSite returns the body of the one-site Caddyfile that README.md
// shows after `<!-- example: name -->`, for the test server to serve as
// written.
func readmeSite(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- example: "+name+" -->\n```caddyfile\n")
	if !ok {
		t.Fatalf("README.md has no example %q", name)
	}
	block, _, _ := strings.Cut(rest, "```")
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) < 3 || !strings.HasSuffix(lines[0], "{") || lines[len(lines)-1] != "}" {
		t.Fatalf("example %q is not one site block:\n%s", name, block)
	}
	return strings.Join(lines[1:len(lines)-1], "\n")
}

// get sends a GET with the header pairs and returns the status, headers
// and body, reading no more than the opening of a stream.
func (s *testServer) get(path string, header ...string) (int, http.Header, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url(path), nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body []byte
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ = io.ReadAll(resp.Body)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// wantJSONError checks a refusal's status and that its body says why.
func wantJSONError(t *testing.T, what string, status int, body string, wantStatus int, wantText string) {
	t.Helper()
	var e struct{ Error string }
	if status != wantStatus || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, wantText) {
		t.Errorf("%s: %d %s; want %d with an error containing %q", what, status, body, wantStatus, wantText)
	}
}

func basicAuth(user, password string) string {
	req := &http.Request{Header: http.Header{}}
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

// TestServerSecurityBasicAuthExample runs the README's basic_auth example
// as written: each user gets their own topics, by stream, replay and poll,
// and cannot ask for anybody else's.
func TestServerSecurityBasicAuthExample(t *testing.T) {
	s := startServer(t, readmeSite(t, "security-basic-auth"))
	alice := basicAuth("alice", "alice-secret")
	bob := basicAuth("bob", "bob-secret")

	if status, _, _ := s.get("/events"); status != http.StatusUnauthorized {
		t.Errorf("without credentials: status %d, want 401", status)
	}
	for _, q := range []string{"user/bob", "user/*", "*", "announcementsX"} {
		status, _, body := s.get("/events?topic="+url.QueryEscape(q), "Authorization", alice)
		wantJSONError(t, "alice asking for ?topic="+q, status, body, http.StatusForbidden, "topic")
	}
	status, _, body := s.get("/events?topic=public/news", "Authorization", alice, "Accept", "application/json")
	if status != http.StatusOK {
		t.Errorf("alice adding public/news: %d %s", status, body)
	}

	first := s.mustPublish("/publish", `{"topic":"announcements","data":"hello all"}`)
	s.mustPublish("/publish", `{"topic":"user/bob","data":"for bob"}`)
	s.mustPublish("/publish", `{"topic":"user/alice","data":"for alice"}`)

	st := s.subscribe("/events?topic=public/news", "Authorization", alice, "Last-Event-ID", first)
	if ev := st.nextEvent(); !strings.Contains(ev.Data, `"topics":["announcements","public/news","user/alice"]`) {
		t.Errorf("alice's connected event: %+v", ev)
	}
	if ev := st.nextEvent(); ev.Data != "for alice" {
		t.Errorf("alice's replay: %+v, want only her own event", ev)
	}
	bobStream := s.subscribe("/events", "Authorization", bob)
	bobStream.nextEvent()
	s.mustPublish("/publish", `{"topic":"user/bob","data":"bob again"}`)
	s.mustPublish("/publish", `{"topic":"public/news","data":"news"}`)
	if ev := st.nextEvent(); ev.Data != "news" {
		t.Errorf("alice live: %+v, want the news and not bob's event", ev)
	}
	if ev := bobStream.nextEvent(); ev.Data != "bob again" {
		t.Errorf("bob live: %+v", ev)
	}

	// Polling from before everything returns alice's events only.
	epoch, _, _ := parseID(first)
	status, _, body = s.get("/events?last_event_id="+epoch+"-0", "Authorization", alice, "Accept", "application/json")
	var poll pollResponse
	if err := json.Unmarshal([]byte(body), &poll); status != http.StatusOK || err != nil {
		t.Fatalf("poll: %d %s", status, body)
	}
	var got []string
	for _, e := range poll.Events {
		got = append(got, e.Data)
	}
	if strings.Join(got, "|") != "hello all|for alice" {
		t.Errorf("alice's poll returned %q", got)
	}
}

// TestServerSecurityForwardAuthExample runs the README's forward_auth
// example against a small auth service: the user comes from the service,
// never from a header the client sends.
func TestServerSecurityForwardAuthExample(t *testing.T) {
	auth := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/auth/check" {
			http.NotFound(w, r)
			return
		}
		user, ok := map[string]string{"session-alice": "alice", "session-bob": "bob"}[r.Header.Get("Cookie")]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-User-Id", user)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	auth.Listener = l
	auth.Start()
	defer auth.Close()

	site := strings.Replace(readmeSite(t, "security-forward-auth"), "127.0.0.1:9091", l.Addr().String(), 1)
	s := startServer(t, site+`
	sse /publish {
		publish
	}`)
	if status, _, _ := s.get("/events", "X-User-Id", "bob"); status != http.StatusUnauthorized {
		t.Errorf("no session: status %d, want the auth service's 401", status)
	}
	st := s.subscribe("/events", "Cookie", "session-alice", "X-User-Id", "bob")
	if ev := st.nextEvent(); !strings.Contains(ev.Data, `"topics":["user/alice"]`) {
		t.Errorf("connected: %s, want user/alice whatever X-User-Id the client sent", ev.Data)
	}
	status, _, body := s.get("/events?topic=user/bob", "Cookie", "session-alice")
	wantJSONError(t, "alice asking for user/bob", status, body, http.StatusForbidden, "takes no others from the query")
	s.mustPublish("/publish", `{"topic":"user/bob","data":"for bob"}`)
	s.mustPublish("/publish", `{"topic":"user/alice","data":"for alice"}`)
	if ev := st.nextEvent(); ev.Data != "for alice" {
		t.Errorf("alice got %+v", ev)
	}
}

// TestServerPlaceholderCannotWiden: a value with '*' in a placeholder
// never makes a template a prefix.
func TestServerPlaceholderCannotWiden(t *testing.T) {
	s := startServer(t, `
	sse /events {
		topic user/{http.request.header.X-User}
	}
`)
	status, _, body := s.get("/events", "X-User", "*")
	wantJSONError(t, "X-User: *", status, body, http.StatusForbidden, "widen")
	status, _, body = s.get("/events", "X-User", "a*", "Accept", "application/json")
	wantJSONError(t, "X-User: a* (poll)", status, body, http.StatusForbidden, "widen")
}

// TestServerCrossSitePublish: pages of other sites cannot publish through
// a visitor's browser, by form or by fetch; servers and listed origins can.
func TestServerCrossSitePublish(t *testing.T) {
	s := startServer(t, `
	sse /events
	sse /publish {
		publish
	}
	sse /publish-app {
		publish
		publish_origins https://app.example
	}
`)
	st := s.subscribe("/events?topic=t")
	st.nextEvent()
	post := func(path, contentType, body string, header ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.url(path), strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const form, js = "application/x-www-form-urlencoded", "application/json"
	refused := []struct {
		name, path, contentType, body string
		header                        []string
	}{
		{"cross-site form", "/publish", form, "topic=t&data=evil", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
		{"cross-site JSON", "/publish", js, `{"topic":"t","data":"evil"}`, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
		{"same-site form", "/publish", form, "topic=t&data=evil", []string{"Origin", "https://blog.127.0.0.1", "Sec-Fetch-Site", "same-site"}},
		{"foreign Origin, no Sec-Fetch-Site", "/publish", form, "topic=t&data=evil", []string{"Origin", "https://evil.example"}},
		{"unlisted origin", "/publish-app", js, `{"topic":"t","data":"evil"}`, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
	}
	for _, tc := range refused {
		status, body := post(tc.path, tc.contentType, tc.body, tc.header...)
		wantJSONError(t, tc.name, status, body, http.StatusForbidden, "publish_origins")
	}
	accepted := []struct {
		name, path, contentType, body string
		header                        []string
	}{
		{"server-side form", "/publish", form, "topic=t&data=server-form", nil},
		{"server-side JSON", "/publish", js, `{"topic":"t","data":"server-json"}`, nil},
		{"same-origin page", "/publish", form, "topic=t&data=same-origin", []string{"Origin", s.url(""), "Sec-Fetch-Site", "same-origin"}},
		{"listed origin", "/publish-app", js, `{"topic":"t","data":"listed"}`, []string{"Origin", "https://app.example", "Sec-Fetch-Site", "cross-site"}},
	}
	for _, tc := range accepted {
		if status, body := post(tc.path, tc.contentType, tc.body, tc.header...); status != http.StatusOK {
			t.Errorf("%s: %d %s", tc.name, status, body)
		}
	}
	// Only the accepted publishes reached the stream, in order.
	for _, want := range []string{"server-form", "server-json", "same-origin", "listed"} {
		if ev := st.nextEvent(); ev.Data != want {
			t.Fatalf("stream got %+v, want %q", ev, want)
		}
	}
	select {
	case ev := <-st.events:
		t.Errorf("unexpected %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
}
