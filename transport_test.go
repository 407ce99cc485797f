package caddysse

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-sse/caddy-sse/hub"
)

// failingOpener opens memory transports whose appends fail, as a disk or
// a network would.
type failingOpener struct{}

type failingTransport struct{ hub.Transport }

func (failingOpener) OpenTransport(cfg hub.TransportConfig) (hub.Transport, error) {
	t, err := hub.Memory{}.OpenTransport(cfg)
	return failingTransport{t}, err
}

func (failingTransport) Append(_ context.Context, _ []*hub.Event) error {
	return fmt.Errorf("%w: disk full", hub.ErrUnavailable)
}

// A publish the transport cannot store is answered 503 with a JSON error
// and a Retry-After, and reaches neither a subscriber nor the history.
func TestPublishRefusedByTransport(t *testing.T) {
	e, err := newHubEntry("refusing", hubSettings{}, failingOpener{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Destruct() })
	sub := hubtestJoin(t, e.Hub, "s", 10, "", "t")

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/publish", strings.NewReader(`{"topic":"t","data":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	if err := publishBody(rec, req, e.Hub, 1<<20, 1<<16, nil, nil); err != nil {
		t.Fatal(err)
	}
	var body struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusServiceUnavailable ||
		rec.Header().Get("Retry-After") != "1" || !strings.Contains(body.Error, "disk full") {
		t.Fatalf("answer %d (Retry-After %q) %s; want 503, Retry-After 1 and the transport's error", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if ids := hubtestTake(sub.Subscriber); len(ids) != 0 {
		t.Fatalf("a refused event reached a subscriber: %v", ids)
	}
	if info := e.Info(); info.History != 0 {
		t.Fatalf("a refused event is in the history: %d", info.History)
	}
}

// Routes sharing a hub must name the same transport.
func TestTransportSettingsMerge(t *testing.T) {
	memory := Handler{transportKey: defaultTransport}
	bolt := Handler{transportKey: `{"name":"bolt","path":"a.db"}`}
	if _, err := memory.hubSettings().merge(bolt.hubSettings()); err == nil || !strings.Contains(err.Error(), "disagree on transport") {
		t.Fatalf("merge of memory and bolt: %v, want a disagreement", err)
	}
	if _, err := bolt.hubSettings().merge(bolt.hubSettings()); err != nil {
		t.Fatalf("two routes on the same transport: %v", err)
	}
}

func TestCaddyfileBoltTransport(t *testing.T) {
	// The sse directive hands "transport bolt ..." to the bolt module; the
	// JSON names it with the path and options as fields.
	input := "http://127.0.0.1:8080 {\n\tsse /events {\n\t\ttransport bolt /data/hub.db {\n\t\t\tlock_timeout 2s\n\t\t}\n\t}\n}\n"
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("adapt: %v %v", err, warnings)
	}
	want := `"transport":{"lock_timeout":2000000000,"name":"bolt","path":"/data/hub.db"}`
	if !strings.Contains(string(out), want) {
		t.Fatalf("adapted JSON lacks %s:\n%s", want, out)
	}
}
