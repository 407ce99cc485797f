package caddysse

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
)

func TestSelectorCovers(t *testing.T) {
	tests := []struct {
		sel, requested string
		want           bool
	}{
		{"*", "anything", true},
		{"*", "news/*", true},
		{"*", "*", true},
		{"news/*", "news/uk", true},
		{"news/*", "news/uk/*", true},
		{"news/*", "news/*", true},
		{"news/*", "news", false},
		{"news/*", "news*", false},
		{"news/*", "*", false},
		{"news/uk", "news/uk", true},
		{"news/uk", "news/uk/*", false},
		{"news/uk", "news/*", false},
		{"news", "news/uk", false},
		{"user/alice/*", "user/alice2/x", false},
		{"user/alice*", "user/alice2/x", true},
	}
	for _, tc := range tests {
		if got := hub.SelectorCovers(tc.sel, tc.requested); got != tc.want {
			t.Errorf("selectorCovers(%q, %q) = %v, want %v", tc.sel, tc.requested, got, tc.want)
		}
	}
}

// requestWith builds a GET whose replacer knows the given placeholders, as
// Caddy's server and an authentication handler would have set them.
func requestWith(target string, vars map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	repl := caddy.NewReplacer()
	for k, v := range vars {
		repl.Set(k, v)
	}
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
}

func TestRequestTopicsPolicy(t *testing.T) {
	alice := map[string]string{"http.auth.user.id": "alice"}
	tests := []struct {
		name     string
		topics   []string // the route's templates
		query    []string // query_topics
		target   string
		vars     map[string]string
		want     []string
		status   int    // when refused
		contains string // in the error, when refused
	}{
		{name: "open route takes query topics", target: "/?topic=a&topic=news/*", want: []string{"a", "news/*"}},
		{name: "open route without topic", target: "/", status: 400, contains: "no topic"},
		{name: "templates alone", topics: []string{"user/{http.auth.user.id}", "announcements"}, target: "/", vars: alice,
			want: []string{"announcements", "user/alice"}},
		{name: "templates refuse query topics", topics: []string{"user/{http.auth.user.id}"}, target: "/?topic=user/*", vars: alice,
			status: 403, contains: "takes no others from the query"},
		{name: "templates refuse even the same topic by query", topics: []string{"user/{http.auth.user.id}"}, target: "/?topic=*", vars: alice,
			status: 403},
		{name: "query_topics allows within", topics: []string{"user/{http.auth.user.id}"}, query: []string{"public/*", "user/{http.auth.user.id}/*"},
			target: "/?topic=public/news&topic=user/alice/orders", vars: alice,
			want: []string{"public/news", "user/alice", "user/alice/orders"}},
		{name: "query_topics refuses another user's", topics: []string{"user/{http.auth.user.id}"}, query: []string{"user/{http.auth.user.id}/*"},
			target: "/?topic=user/bob/orders", vars: alice, status: 403, contains: `"user/bob/orders" is not allowed`},
		{name: "query_topics refuses a wider selector", query: []string{"public/*"}, target: "/?topic=*", status: 403},
		{name: "query_topics refuses a wider prefix", query: []string{"public/news/*"}, target: "/?topic=public/*", status: 403},
		{name: "query_topics * reopens", topics: []string{"mine"}, query: []string{"*"}, target: "/?topic=any/*", want: []string{"any/*", "mine"}},
		{name: "placeholder value with * never widens a template", topics: []string{"user/{http.auth.user.id}"}, target: "/",
			vars: map[string]string{"http.auth.user.id": "*"}, status: 403, contains: "widen"},
		{name: "placeholder value with * never widens query_topics", query: []string{"user/{http.auth.user.id}/*"}, target: "/?topic=user/x",
			vars: map[string]string{"http.auth.user.id": "*"}, status: 403, contains: "widen"},
		{name: "unresolvable template", topics: []string{"user/{http.auth.user.id}"}, target: "/", status: 400, contains: "cannot be resolved"},
		{name: "empty placeholder", topics: []string{"user/{http.auth.user.id}"}, target: "/",
			vars: map[string]string{"http.auth.user.id": ""}, status: 400, contains: "unknown or empty"},
		{name: "placeholder value with a newline", topics: []string{"user/{http.auth.user.id}"}, target: "/",
			vars: map[string]string{"http.auth.user.id": "a\nb"}, status: 400, contains: "CR, LF or NUL"},
		{name: "invalid query selector is 400 before policy", topics: []string{"t"}, target: "/?topic=a*b", status: 400},
		{name: "a query topic within the templates adds nothing and passes", topics: []string{"user/{http.auth.user.id}/*"}, target: "/?topic=user/alice/x",
			vars: alice, want: []string{"user/alice/*", "user/alice/x"}},
		{name: "duplicates merged", topics: []string{"a"}, query: []string{"*"}, target: "/?topic=a&topic=a", want: []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{Topics: tc.topics, QueryTopics: tc.query}
			got, err := h.requestTopics(requestWith(tc.target, tc.vars))
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("topics %q, want %q", got, tc.want)
				}
				return
			}
			var he httpError
			if !errors.As(err, &he) || he.status != tc.status {
				t.Fatalf("got %q, %v; want status %d", got, err, tc.status)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestCheckPublishOrigin(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		allowed []string
		refused bool
	}{
		{name: "no browser headers (curl, servers)"},
		{name: "same origin by Sec-Fetch-Site", headers: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://hub.example"}},
		{name: "typed into the address bar", headers: map[string]string{"Sec-Fetch-Site": "none"}},
		{name: "cross-site form", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, refused: true},
		{name: "same-site is another origin", headers: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://blog.hub.example"}, refused: true},
		{name: "cross-site without Origin", headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, refused: true},
		{name: "listed origin", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example"},
			allowed: []string{"https://app.example"}},
		{name: "unlisted origin", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
			allowed: []string{"https://app.example"}, refused: true},
		{name: "any origin", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, allowed: []string{"*"}},
		{name: "older browser, foreign Origin", headers: map[string]string{"Origin": "https://evil.example"}, refused: true},
		{name: "older browser, own Origin", headers: map[string]string{"Origin": "http://hub.example"}},
		{name: "older browser, own Origin other case", headers: map[string]string{"Origin": "https://HUB.example"}},
		{name: "opaque origin", headers: map[string]string{"Origin": "null"}, refused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://hub.example/publish", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			h := &Handler{Publish: true, PublishOrigins: tc.allowed}
			err := h.checkPublishOrigin(r)
			if tc.refused {
				var he httpError
				if !errors.As(err, &he) || he.status != http.StatusForbidden {
					t.Fatalf("want 403, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestValidateOriginsAndPolicy(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
		want string // substring of the error; empty for valid
	}{
		{name: "cors origins", h: Handler{CORS: &CORS{Origins: []string{"https://app.example", "http://localhost:3000"}, Credentials: true}}},
		{name: "cors * with credentials", h: Handler{CORS: &CORS{Origins: []string{"*"}, Credentials: true}}, want: "cannot be combined with credentials"},
		{name: "cors origin with a path", h: Handler{CORS: &CORS{Origins: []string{"https://app.example/"}}}, want: `cors origin "https://app.example/"`},
		{name: "cors origin without scheme", h: Handler{CORS: &CORS{Origins: []string{"app.example"}}}, want: "want an origin"},
		{name: "publish origins", h: Handler{Publish: true, PublishOrigins: []string{"https://app.example"}}},
		{name: "publish origins on a subscribe route", h: Handler{PublishOrigins: []string{"https://app.example"}}, want: "add publish"},
		{name: "bad publish origin", h: Handler{Publish: true, PublishOrigins: []string{"ftp://x"}}, want: "publish_origins"},
		{name: "query_topics selector", h: Handler{QueryTopics: []string{"a*b"}}, want: "query_topics"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			h.Buffer, h.MaxEventSize = 1, 1 // what Provision would set
			err := h.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzTopicTemplate checks that a placeholder's value never widens the
// selector an operator wrote: whatever the value, the resolved selector is
// refused or matches no more than the template does with a plain value.
func FuzzTopicTemplate(f *testing.F) {
	for _, seed := range [][2]string{
		{"user/{http.auth.user.id}", "alice"},
		{"user/{http.auth.user.id}", "*"},
		{"user/{http.auth.user.id}/*", "a*"},
		{"{http.auth.user.id}", ""},
		{"news/*", "x"},
		{"a/{http.auth.user.id}/b", "x\ny"},
		{"{http.auth.user.id}{http.auth.user.id}", "}{"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, tpl, value string) {
		if hub.CheckSelector(tpl) != nil {
			return // Validate refuses such templates
		}
		h := &Handler{Topics: []string{tpl}}
		got, err := h.requestTopics(requestWith("/", map[string]string{"http.auth.user.id": value}))
		if err != nil {
			var he httpError
			if !errors.As(err, &he) || (he.status != 400 && he.status != 403) {
				t.Fatalf("template %q value %q: error without a client status: %v", tpl, value, err)
			}
			return
		}
		if len(got) != 1 {
			t.Fatalf("template %q value %q: got %q", tpl, value, got)
		}
		if hub.CheckSelector(got[0]) != nil {
			t.Fatalf("template %q value %q: resolved to an invalid selector %q", tpl, value, got[0])
		}
		// The value's own stars never reach the selector: only the
		// template's trailing one may be there.
		if strings.Count(got[0], "*") > strings.Count(tpl, "*") {
			t.Fatalf("template %q value %q: resolved to the wider %q", tpl, value, got[0])
		}
	})
}
