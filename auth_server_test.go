package caddysse

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
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

// wantJSONError checks a refusal's status and that its body says why.
func wantJSONError(t *testing.T, what string, resp response, wantStatus int, wantText string) {
	t.Helper()
	var e struct{ Error string }
	if resp.status != wantStatus || json.Unmarshal([]byte(resp.body), &e) != nil || !strings.Contains(e.Error, wantText) {
		t.Errorf("%s: %d %s; want %d with an error containing %q", what, resp.status, resp.body, wantStatus, wantText)
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

	if resp := s.send("GET", "/events", ""); resp.status != http.StatusUnauthorized {
		t.Errorf("without credentials: status %d, want 401", resp.status)
	}
	for _, q := range []string{"user/bob", "user/*", "*", "announcementsX"} {
		resp := s.send("GET", "/events?topic="+url.QueryEscape(q), "", "Authorization", alice)
		wantJSONError(t, "alice asking for ?topic="+q, resp, http.StatusForbidden, "topic")
	}
	if resp := s.send("GET", "/events?topic=public/news", "", "Authorization", alice, "Accept", "application/json"); resp.status != http.StatusOK {
		t.Errorf("alice adding public/news: %d %s", resp.status, resp.body)
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
	epoch, _, _ := hub.ParseID(first)
	poll := s.poll("/events?last_event_id="+epoch+"-0", "Authorization", alice)
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
	if resp := s.send("GET", "/events", "", "X-User-Id", "bob"); resp.status != http.StatusUnauthorized {
		t.Errorf("no session: status %d, want the auth service's 401", resp.status)
	}
	st := s.subscribe("/events", "Cookie", "session-alice", "X-User-Id", "bob")
	if ev := st.nextEvent(); !strings.Contains(ev.Data, `"topics":["user/alice"]`) {
		t.Errorf("connected: %s, want user/alice whatever X-User-Id the client sent", ev.Data)
	}
	wantJSONError(t, "alice asking for user/bob", s.send("GET", "/events?topic=user/bob", "", "Cookie", "session-alice"),
		http.StatusForbidden, "takes no others from the query")
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
	wantJSONError(t, "X-User: *", s.send("GET", "/events", "", "X-User", "*"), http.StatusForbidden, "widen")
	wantJSONError(t, "X-User: a* (poll)", s.send("GET", "/events", "", "X-User", "a*", "Accept", "application/json"), http.StatusForbidden, "widen")
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
	post := func(path, contentType, body string, header ...string) response {
		return s.send(http.MethodPost, path, body, append([]string{"Content-Type", contentType}, header...)...)
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
		wantJSONError(t, tc.name, post(tc.path, tc.contentType, tc.body, tc.header...), http.StatusForbidden, "publish_origins")
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
		if resp := post(tc.path, tc.contentType, tc.body, tc.header...); resp.status != http.StatusOK {
			t.Errorf("%s: %d %s", tc.name, resp.status, resp.body)
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

// TestServerSecurityJWTExample runs the README's JWT example as written: a
// cookie token grants a user their own topics, cross-origin with
// credentials, and publishers need publish claims.
func TestServerSecurityJWTExample(t *testing.T) {
	t.Setenv("SSE_JWT_KEY", testSecret)
	s := startServer(t, readmeSite(t, "security-jwt"))
	const app = "https://app.example.com"
	user42 := token(t, []string{"user/42", "user/42/*"}, nil, nil)

	st := s.subscribe("/events?topic=user/42&topic=announcements", "Cookie", "sse_token="+user42, "Origin", app)
	if got := st.resp.Header; got.Get("Access-Control-Allow-Origin") != app || got.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("cross-origin stream headers: %v", got)
	}
	st.nextEvent()
	wantJSONError(t, "user 42 asking for user/43", s.send("GET", "/events?topic=user/43", "", "Cookie", "sse_token="+user42),
		http.StatusForbidden, "user/43")
	if resp := s.send("GET", "/events?topic=user/42", ""); resp.status != http.StatusUnauthorized ||
		!strings.Contains(resp.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("without a token: %d %v", resp.status, resp.header)
	}
	anon := s.subscribe("/events?topic=announcements")
	anon.nextEvent()

	if resp := s.send("POST", "/publish", `{"topic":"user/42","data":"x"}`); resp.status != http.StatusUnauthorized {
		t.Errorf("publish without a token: %d %s", resp.status, resp.body)
	}
	pub := "Bearer " + token(t, nil, []string{"user/*", "announcements"}, nil)
	for _, body := range []string{`{"topic":"user/43","data":"for 43"}`, `{"topic":"user/42","data":"for 42"}`, `{"topic":"announcements","data":"all"}`} {
		if resp := s.send("POST", "/publish", body, "Authorization", pub); resp.status != http.StatusOK {
			t.Fatalf("publish %s: %d %s", body, resp.status, resp.body)
		}
	}
	if ev := st.nextEvent(); ev.Data != "for 42" {
		t.Errorf("user 42 got %+v", ev)
	}
	if ev := st.nextEvent(); ev.Data != "all" {
		t.Errorf("user 42 got %+v", ev)
	}
	if ev := anon.nextEvent(); ev.Data != "all" {
		t.Errorf("anonymous subscriber got %+v", ev)
	}
}
