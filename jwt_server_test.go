package caddysse

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

// jwtSite subscribes on /events, where public/* needs no token, and
// publishes on /publish; the key comes from the environment, as in
// production.
const jwtSite = `
	sse /events {
		jwt {
			key {env.SSE_TEST_JWT_KEY}
			public public/*
		}
	}
	sse /publish {
		publish
		jwt {
			key {env.SSE_TEST_JWT_KEY}
		}
	}
`

// startJWTServer runs jwtSite with the test secret in its environment.
func startJWTServer(t *testing.T, path string) *testServer {
	t.Helper()
	t.Setenv("SSE_TEST_JWT_KEY", testSecret)
	return startServerFor(t, path, jwtSite)
}

// token signs an HS256 token with the test secret.
func token(t *testing.T, subscribe, publish []string, extra jwt.MapClaims) string {
	t.Helper()
	return signFor(t, "HS256", grants(subscribe, publish, extra))
}

// publisher may publish anywhere.
func publisher(t *testing.T) string { return token(t, nil, []string{"*"}, nil) }

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   string
}

// send makes a request with header pairs and reads the whole answer.
func (s *testServer) send(method, path, body string, header ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url(path), strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw []byte
	if resp.Header.Get("Content-Type") != "text/event-stream" { // a stream never ends by itself
		raw, _ = io.ReadAll(resp.Body)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// publishAs publishes a JSON body with a bearer token and fails unless it
// is accepted; it returns the first event's id.
func (s *testServer) publishAs(tok, body string) string {
	s.t.Helper()
	resp := s.send(http.MethodPost, "/publish", body, "Authorization", "Bearer "+tok)
	if resp.status != http.StatusOK {
		s.t.Fatalf("publish %s: %d %s", body, resp.status, resp.body)
	}
	var one publishResult
	if json.Unmarshal([]byte(resp.body), &one) == nil {
		return one.ID
	}
	var many []publishResult
	if err := json.Unmarshal([]byte(resp.body), &many); err != nil || len(many) == 0 {
		s.t.Fatalf("publish answered %s", resp.body)
	}
	return many[0].ID
}

// poll asks for the events after an id as JSON.
func (s *testServer) poll(path string, header ...string) pollResponse {
	s.t.Helper()
	resp := s.send(http.MethodGet, path, "", append([]string{"Accept", "application/json"}, header...)...)
	if resp.status != http.StatusOK {
		s.t.Fatalf("poll %s: %d %s", path, resp.status, resp.body)
	}
	var out pollResponse
	if err := json.Unmarshal([]byte(resp.body), &out); err != nil {
		s.t.Fatalf("poll %s answered %s: %v", path, resp.body, err)
	}
	return out
}

// wantRefused checks a 401 or 403: the challenge and a JSON error that does
// not repeat the token.
func wantRefused(t *testing.T, resp response, status int, tok string) {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status %d (%s), want %d", resp.status, resp.body, status)
	}
	challenge := map[int]string{401: `Bearer error="invalid_token"`, 403: `Bearer error="insufficient_scope"`}[status]
	if got := resp.header.Get("WWW-Authenticate"); got != challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
	}
	var body struct{ Error string }
	if err := json.Unmarshal([]byte(resp.body), &body); err != nil || body.Error == "" {
		t.Errorf("want a JSON error body, got %q", resp.body)
	}
	if sig := tok[strings.LastIndexByte(tok, '.')+1:]; len(sig) > 8 && strings.Contains(resp.body, sig) {
		t.Errorf("the error body repeats the token: %s", resp.body)
	}
}

func TestJWTServerTokenSources(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startJWTServer(t, path)
		tok := token(t, []string{"private/*"}, nil, nil)
		sources := map[string][]string{
			"header": {"/events?topic=private/header", "Authorization", "Bearer " + tok},
			"cookie": {"/events?topic=private/cookie", "Cookie", "sse_token=" + tok},
			"query":  {"/events?topic=private/query&token=" + tok},
		}
		for name, req := range sources {
			t.Run(name, func(t *testing.T) {
				st := s.subscribe(req[0], req[1:]...)
				if ev := st.nextEvent(); ev.Name != "connected" {
					t.Fatalf("want the connected event first, got %+v", ev)
				}
				topic := "private/" + name
				id := s.publishAs(publisher(t), `{"topic":"`+topic+`","data":"for `+name+`"}`)
				if ev := st.nextEvent(); ev.ID != id || ev.Data != "for "+name {
					t.Errorf("got %+v, want event %s", ev, id)
				}
			})
		}
	})
}

func TestJWTServerRefusals(t *testing.T) {
	s := startJWTServer(t, pathDetached)
	now := time.Now()
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, grants([]string{"*"}, nil, nil))
	wrongKey := sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), grants([]string{"*"}, nil, nil))
	expired := token(t, []string{"*"}, nil, jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})
	early := token(t, []string{"*"}, nil, jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})
	narrow := token(t, []string{"private/a"}, nil, nil)

	tests := []struct {
		name   string
		path   string
		token  string
		status int
	}{
		{"missing", "/events?topic=private/a", "", 401},
		{"missing beside a public topic", "/events?topic=public/x&topic=private/a", "", 401},
		{"malformed", "/events?topic=private/a", "abc.def", 401},
		{"alg none", "/events?topic=private/a", noneToken, 401},
		{"signed with another key", "/events?topic=private/a", wrongKey, 401},
		{"expired", "/events?topic=private/a", expired, 401},
		{"not valid yet", "/events?topic=private/a", early, 401},
		{"a bad token even for a public topic", "/events?topic=public/x", expired, 401},
		{"topic not covered", "/events?topic=private/b", narrow, 403},
		{"prefix not covered by an exact grant", "/events?topic=private/*", narrow, 403},
		{"star not covered", "/events?topic=*", narrow, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.token != "" {
				header = []string{"Authorization", "Bearer " + tc.token}
			}
			wantRefused(t, s.send(http.MethodGet, tc.path, "", header...), tc.status, tc.token)
			// The polling fallback goes through the same door.
			wantRefused(t, s.send(http.MethodGet, tc.path, "", append(header, "Accept", "application/json")...), tc.status, tc.token)
		})
	}
}

func TestJWTServerPublicTopics(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startJWTServer(t, path)
		st := s.subscribe("/events?topic=public/news&topic=public/sport/*")
		if ev := st.nextEvent(); ev.Name != "connected" {
			t.Fatalf("want the connected event first, got %+v", ev)
		}
		s.publishAs(publisher(t), `{"topic":"private/x","data":"secret"}`)
		id := s.publishAs(publisher(t), `{"topic":"public/sport/f1","data":"open"}`)
		if ev := st.nextEvent(); ev.ID != id || ev.Data != "open" {
			t.Errorf("got %+v, want the public event %s", ev, id)
		}
	})
}

func TestJWTServerOnlyCoveredTopics(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startJWTServer(t, path)
		tok := token(t, []string{"private/a"}, nil, nil)
		start := s.poll("/events?topic=public/x").LastEventID
		ids := map[string]string{}
		for _, topic := range []string{"private/b", "private/a", "private/ab", "private/a/sub"} {
			ids[topic] = s.publishAs(publisher(t), `{"topic":"`+topic+`","data":"`+topic+`"}`)
		}

		// Replay gives the covered topic's events only.
		st := s.subscribe("/events?topic=private/a&topic=public/x&last_event_id="+start, "Authorization", "Bearer "+tok)
		if ev := st.nextEvent(); ev.Name != "connected" {
			t.Fatalf("want the connected event first, got %+v", ev)
		}
		if ev := st.nextEvent(); ev.ID != ids["private/a"] {
			t.Fatalf("replay gave %+v, want only private/a's event %s", ev, ids["private/a"])
		}
		// Live: an uncovered topic published first never arrives.
		s.publishAs(publisher(t), `{"topic":"private/b","data":"not yours"}`)
		live := s.publishAs(publisher(t), `{"topic":"private/a","data":"yours"}`)
		if ev := st.nextEvent(); ev.ID != live || ev.Data != "yours" {
			t.Errorf("live gave %+v, want %s", ev, live)
		}

		// Polling gives the same.
		got := s.poll("/events?topic=private/a&last_event_id="+start, "Cookie", "sse_token="+tok)
		if len(got.Events) != 2 || got.Events[0].ID != ids["private/a"] || got.Events[1].ID != live {
			t.Errorf("poll gave %+v, want private/a's two events", got.Events)
		}
		// A wider selector is refused rather than filtered.
		wantRefused(t, s.send(http.MethodGet, "/events?topic=private/*&last_event_id="+start, "", "Authorization", "Bearer "+tok), 403, tok)
	})
}

func TestJWTServerPublish(t *testing.T) {
	s := startJWTServer(t, pathDetached)
	chat := token(t, []string{"*"}, []string{"chat/*"}, nil)
	start := s.poll("/events?topic=*", "Authorization", "Bearer "+chat).LastEventID

	tests := []struct {
		name   string
		token  string
		body   string
		status int
	}{
		{"no token", "", `{"topic":"chat/1","data":"x"}`, 401},
		{"a subscribe-only token", token(t, []string{"*"}, nil, nil), `{"topic":"chat/1","data":"x"}`, 403},
		{"topic not covered", chat, `{"topic":"news","data":"x"}`, 403},
		{"one topic of an event not covered", chat, `{"topics":["chat/1","news"],"data":"x"}`, 403},
		{"one event of a batch not covered", chat, `[{"topic":"chat/1","data":"x"},{"topic":"news","data":"y"}]`, 403},
		{"connection targeting without star", chat, `{"connection":"abc","data":"x"}`, 403},
		{"expired", token(t, nil, []string{"*"}, jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()}), `{"topic":"chat/1","data":"x"}`, 401},
		{"public topics are not public to publish", "", `{"topic":"public/x","data":"x"}`, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.token != "" {
				header = []string{"Authorization", "Bearer " + tc.token}
			}
			wantRefused(t, s.send(http.MethodPost, "/publish", tc.body, header...), tc.status, tc.token)
		})
	}
	if got := s.poll("/events?topic=*&last_event_id="+start, "Authorization", "Bearer "+chat); len(got.Events) != 0 {
		t.Fatalf("refused publishes were stored: %+v", got.Events)
	}

	id := s.publishAs(chat, `[{"topic":"chat/1","data":"a"},{"topics":["chat/2","chat/3"],"data":"b"}]`)
	got := s.poll("/events?topic=*&last_event_id="+start, "Authorization", "Bearer "+chat)
	if len(got.Events) != 2 || got.Events[0].ID != id {
		t.Errorf("a covered batch: stored %+v, want two events from %s", got.Events, id)
	}
	s.publishAs(publisher(t), `{"connection":"nobody","data":"x"}`)
}

func TestJWTServerTokenExpiry(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startJWTServer(t, path)
		exp := time.Now().Add(3 * time.Second).Truncate(time.Second)
		tok := token(t, []string{"private/*"}, nil, jwt.MapClaims{"exp": exp.Unix()})
		st := s.subscribe("/events?topic=private/a", "Authorization", "Bearer "+tok)
		if ev := st.nextEvent(); ev.Name != "connected" {
			t.Fatalf("want the connected event first, got %+v", ev)
		}
		id := s.publishAs(publisher(t), `{"topic":"private/a","data":"before expiry"}`)
		if ev := st.nextEvent(); ev.ID != id {
			t.Fatalf("got %+v, want %s", ev, id)
		}

		st.ended(time.Until(exp) + 10*time.Second)
		endedAt := time.Now()
		if endedAt.Before(exp) {
			t.Errorf("the stream ended at %s, before its token expired at %s", endedAt.Format(time.StampMilli), exp.Format(time.StampMilli))
		}
		// The hub's sweep runs at least once a second; allow for a loaded
		// machine beyond that.
		if late := endedAt.Sub(exp); late > 3*time.Second {
			t.Errorf("the stream ended %s after its token expired", late)
		}
		// The short retry is the stream's last line, applied as it is read.
		if ms := st.retry(); ms == "" || len(ms) > 4 || !strings.HasSuffix(st.raw.String(), "\nretry: "+ms+"\n") {
			t.Errorf("the stream should end with a short retry:, it carried:\n%s", st.raw)
		}

		// Coming back with the same token is refused; with a fresh one it
		// resumes.
		wantRefused(t, s.send(http.MethodGet, "/events?topic=private/a", "", "Authorization", "Bearer "+tok), 401, tok)
		fresh := token(t, []string{"private/*"}, nil, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
		again := s.subscribe("/events?topic=private/a&last_event_id="+id, "Cookie", "sse_token="+fresh)
		if ev := again.nextEvent(); ev.Name != "connected" {
			t.Errorf("want the connected event first, got %+v", ev)
		}
	})
}

func TestSSETokenCommand(t *testing.T) {
	bin := caddytest.Binary(t)
	out, err := exec.Command(bin, "sse-token", "--key", testSecret, "--subscribe", "news/*", "--subscribe", "chat", "--publish", "chat", "--ttl", "10m", "--sub", "alice").Output()
	if err != nil {
		t.Fatalf("caddy sse-token: %v", err)
	}
	tok := strings.TrimSpace(string(out))
	g, err := provisioned(t, JWT{Key: testSecret}).verify(tok)
	if err != nil {
		t.Fatalf("the module refused the printed token: %v", err)
	}
	if strings.Join(g.subscribe, ",") != "news/*,chat" || strings.Join(g.publish, ",") != "chat" {
		t.Errorf("grant %+v", g)
	}
	if left := time.Until(g.expires); left < 9*time.Minute || left > 10*time.Minute {
		t.Errorf("the token expires in %s, want 10m", left)
	}

	msg, err := exec.Command(bin, "sse-token", "--key", "short", "--subscribe", "a").CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "at least 32 bytes") {
		t.Errorf("a short secret: %v, %s", err, msg)
	}
}

func TestJWTServerConfigErrors(t *testing.T) {
	tests := []struct {
		name, jwt, want string
	}{
		{"no key", "alg HS256", "jwt: key or key_file is required"},
		{"key of the wrong type", "alg ES256\n\t\t\tkey " + testSecret, "jwt: alg ES256 wants a PEM public key: no PEM block found"},
		{"alg none", "alg none\n\t\t\tkey " + testSecret, "none\\\": want one of HS256"}, // quotes are escaped in the JSON log
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "Caddyfile")
			site := "{\n\tadmin off\n\tstorage file_system " + filepath.Join(dir, "data") + "\n}\n:0 {\n\tsse {\n\t\tjwt {\n\t\t\t" + tc.jwt + "\n\t\t}\n\t}\n}\n"
			if err := os.WriteFile(cfg, []byte(site), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(caddytest.Binary(t), "validate", "--adapter", "caddyfile", "--config", cfg)
			cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("caddy validate: %v, want an error containing %q:\n%s", err, tc.want, out)
			}
			if strings.Contains(string(out), testSecret) {
				t.Errorf("caddy validate repeated the secret:\n%s", out)
			}
		})
	}
}
