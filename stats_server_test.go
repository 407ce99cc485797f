package caddysse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

// statsFrom decodes a stats event read from a stream, failing unless it is
// one: named "stats", without an id.
func statsFrom(t *testing.T, ev sseEvent) statsReport {
	t.Helper()
	if ev.Name != statsEventName || ev.ID != "" {
		t.Fatalf("want a stats event without id, got %+v", ev)
	}
	var rep statsReport
	if err := json.Unmarshal([]byte(ev.Data), &rep); err != nil {
		t.Fatalf("stats data %q: %v", ev.Data, err)
	}
	return rep
}

// TestServerStatsTopic: through a real Caddy, on both serving paths, a
// dashboard subscribed to the stats topic gets a snapshot at once and then
// one every interval with the hub's counters; stats events take no place in
// the history, so resumes and polls are as if there were none.
func TestServerStatsTopic(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, `
		sse /events {
			stats_topic hub/stats 1s
		}
		sse /publish {
			publish
		}
	`)
		dash := s.subscribe("/events?topic=hub/stats")
		if ev := dash.nextEvent(); ev.Name != "connected" {
			t.Fatalf("the stream opened with %+v, want the connected event", ev)
		}
		if first := statsFrom(t, dash.nextEvent()); first.Name != "default" || first.Published != 0 || !first.Transport.Up {
			t.Errorf("the snapshot on joining is %+v, want hub default, nothing published, transport up", first.hubReport)
		}

		id := s.mustPublish("/publish", `{"topic":"news","data":"headline"}`)
		var rep statsReport
		for rep.Published == 0 {
			rep = statsFrom(t, dash.nextEvent())
		}
		if rep.Published != 1 || rep.LastID != id || rep.History != 1 || rep.Subscribers != 1 || rep.Delivered != 0 {
			t.Errorf("after one publish nobody received: %+v; want 1 published, last id %s, history 1, 1 subscriber, 0 delivered", rep.hubReport, id)
		}
		if rep.PublishRate <= 0 || rep.IntervalSeconds <= 0 {
			t.Errorf("the interval with the publish shows a rate of %v over %vs", rep.PublishRate, rep.IntervalSeconds)
		}

		// A resume replays nothing and resets nothing: the stats events in
		// between were never stored. The latest snapshot comes at once.
		resumed := s.subscribe("/events?topic=news&topic=hub/stats", "Last-Event-ID", id)
		id2 := s.mustPublish("/publish", `{"topic":"news","data":"second"}`)
		var before []sseEvent
		for ev := resumed.nextEvent(); ev.ID != id2; ev = resumed.nextEvent() {
			if ev.ID != "" || (ev.Name != "connected" && ev.Name != statsEventName) {
				t.Fatalf("before the new event the resumed stream got %+v, want only connected and stats events", ev)
			}
			before = append(before, ev)
		}
		if len(before) < 2 || before[1].Name != statsEventName {
			t.Errorf("the resumed stream began with %+v, want connected then the latest snapshot", before)
		}

		// A poll on the stats topic sees no events, however many stats
		// events are published while it waits, and its cursor stays put.
		req, _ := http.NewRequest(http.MethodGet, s.url("/events?topic=hub/stats&wait=1.5&last_event_id="+id2), nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var polled pollResponse
		if err := json.NewDecoder(resp.Body).Decode(&polled); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("poll: %d %v", resp.StatusCode, err)
		}
		if len(polled.Events) != 0 || polled.LastEventID != id2 || polled.Reset != nil {
			t.Errorf("a poll of the stats topic answered %+v, want no events and last id %s", polled, id2)
		}
	})
}

// TestServerStatsTopicRefused: bad stats settings fail the config, in the
// Caddyfile and in JSON alike, and routes of one hub must agree on them.
func TestServerStatsTopicRefused(t *testing.T) {
	tests := []struct {
		name, site, want string
	}{
		{"a selector", "sse {\n\tstats_topic hub/*\n}", `hub/*\": must be an exact topic, without '*'`}, // quoted in the JSON log
		{"too often", "sse {\n\tstats_topic hub/stats 500ms\n}", "stats_interval 500ms: must be at least 1s"},
		{"routes disagree on the topic", "sse /a {\n\tstats_topic a\n}\nsse /b {\n\tstats_topic b\n}", "disagree on stats topic: a and b"},
		{"routes disagree on the interval", "sse /a {\n\tstats_topic s 2s\n}\nsse /b {\n\tstats_topic s\n}", "disagree on stats interval: 2s and 5s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCaddy(t, "validate", tc.site)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("want a validation error containing %q, got %v:\n%s", tc.want, err, out)
			}
		})
	}

	t.Run("an interval without a topic in JSON", func(t *testing.T) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "caddy.json")
		body := fmt.Sprintf(`{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:%d"],
			"routes":[{"handle":[{"handler":"sse","stats_interval":"10s"}]}]}}}}}`, caddytest.FreePort(t))
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(caddytest.Binary(t), "validate", "--config", cfg)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "stats_interval: set stats_topic too") {
			t.Errorf("want a clear error for stats_interval alone, got %v:\n%s", err, out)
		}
	})
}

// TestServerStatsTopicReload: a reload turns stats on, moves them to
// another topic or turns them off; the hub, and so its counters, lives on.
func TestServerStatsTopicReload(t *testing.T) {
	site := func(stats string) string {
		return "sse /events {\n" + stats + "\n}\nsse /publish {\n\tpublish\n}"
	}
	s := startServer(t, site(""))
	id := s.mustPublish("/publish", `{"topic":"news","data":"before stats"}`)

	s.reload(site("stats_topic hub/stats 1s"))
	dash := s.subscribe("/events?topic=hub/stats")
	dash.nextEvent() // connected
	if rep := statsFrom(t, dash.nextEvent()); rep.Published != 1 || rep.LastID != id {
		t.Errorf("the first snapshot after stats were turned on: %+v; want the event published before", rep.hubReport)
	}

	s.reload(site("stats_topic hub/other 1s"))
	moved := s.subscribe("/events?topic=hub/other")
	moved.nextEvent() // connected
	if rep := statsFrom(t, moved.nextEvent()); rep.Published != 1 || rep.LastID != id {
		t.Errorf("the snapshot on the new topic: %+v; want the same hub's counters", rep.hubReport)
	}

	// Off: a subscriber of the old topic gets no snapshot. An event
	// published after it joined is the first thing it sees.
	s.reload(site(""))
	after := s.subscribe("/events?topic=hub/other&topic=news")
	after.nextEvent() // connected
	id2 := s.mustPublish("/publish", `{"topic":"news","data":"after stats"}`)
	if ev := after.nextEvent(); ev.ID != id2 {
		t.Errorf("with stats off the first event was %+v, want the published one %s", ev, id2)
	}
}
