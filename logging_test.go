package caddysse

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/sseenc"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestPublishNotStoredLogged(t *testing.T) {
	e, err := newHubEntry("log-store-failure", hubSettings{}, failingOpener{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Destruct() })
	core, logs := observer.New(zapcore.DebugLevel)
	h := &Handler{Hub: "log-store-failure", Publish: true, MaxEventSize: defaultMaxEventSize, hub: e.Hub, entry: e, logger: zap.New(core)}
	admin := adminAPI{logger: zap.New(core)}
	route := h.publish
	adminPublish := func(w http.ResponseWriter, r *http.Request) error { return admin.publish(w, r, e) }

	for _, tc := range []struct {
		name, contentType, body string
		publish                 func(http.ResponseWriter, *http.Request) error
	}{
		{"request", "application/json", `{"topic":"a","data":"secret-data"}`, route},
		{"stream of lines", ndjsonType, "{\"topic\":\"a\",\"data\":\"secret-data\"}\n{\"topic\":\"a\",\"data\":\"secret-data\"}\n", route},
		{"admin endpoint", "application/json", `{"topic":"a","data":"secret-data"}`, adminPublish},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.TakeAll()
			r := httptest.NewRequest(http.MethodPost, "/publish", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.contentType)
			w := httptest.NewRecorder()
			if err := tc.publish(w, r); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(w.Body.String(), "disk full") {
				t.Fatalf("answer %d %s, want the transport's error", w.Code, w.Body)
			}
			entries := logs.FilterMessage("publish not stored").All()
			if len(entries) != 1 {
				t.Fatalf("logged %d lines about the failure, want 1: %+v", len(entries), logs.All())
			}
			got := entries[0]
			fields := got.ContextMap()
			if got.Level != zapcore.ErrorLevel || fields["hub"] != "log-store-failure" || !strings.Contains(fields["error"].(string), "disk full") || fields["remote_addr"] == "" {
				t.Errorf("logged %v %+v", got.Level, fields)
			}
			for _, e := range logs.All() {
				for k, v := range e.ContextMap() {
					if s, ok := v.(string); ok && strings.Contains(s, "secret-data") {
						t.Errorf("%q logs event data in %s", e.Message, k)
					}
				}
			}
		})
	}
}

// plainConn is a connection that hides its socket, as a listener
// wrapper's connections do.
type plainConn struct{ net.Conn }

func TestFallbackToGoroutinesLoggedOnce(t *testing.T) {
	e := testEntry(t, "log-fallback")
	core, logs := observer.New(zapcore.DebugLevel)
	h := &Handler{Hub: "log-fallback", hub: e.Hub, entry: e, logger: zap.New(core)}
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/events", nil)
		r = r.WithContext(context.WithValue(r.Context(), rawConnKey{}, net.Conn(plainConn{server})))
		s := hub.NewSubscriber(newConnectionID(), []string{"a"}, 1, time.Now())
		if h.detach(httptest.NewRecorder(), r, s, sseenc.Stream{}, func() {}, streamTotals{}) {
			t.Fatal("a connection without a socket was detached")
		}
	}
	warned := logs.FilterMessage("serving streams on goroutines instead of the detached writers").All()
	if len(warned) != 1 || warned[0].Level != zapcore.WarnLevel || warned[0].ContextMap()["hub"] != "log-fallback" ||
		!strings.Contains(warned[0].ContextMap()["error"].(string), "no access to its socket") {
		t.Errorf("fallback logged as %+v, want one warning", warned)
	}
}
