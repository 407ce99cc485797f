package caddysse

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
)

// statstestNext waits for the next events queued to s and returns them.
func statstestNext(t *testing.T, s *hub.Subscriber, what string) []*hub.Event {
	t.Helper()
	var events []*hub.Event
	hubtestWait(t, s, what, func() bool {
		events = s.Take(events).Events
		return len(events) > 0
	})
	return events
}

// statstestReport checks that e is a stats event, as a stream writes it,
// and decodes its data.
func statstestReport(t *testing.T, e *hub.Event) statsReport {
	t.Helper()
	if e.ID != "" || e.Name != statsEventName {
		t.Fatalf("want an event named %q without id, got id %q name %q", statsEventName, e.ID, e.Name)
	}
	wire := string(e.Wire())
	if !strings.HasPrefix(wire, "event: stats\ndata: {") || strings.Contains(wire, "id:") {
		t.Fatalf("a stats event must be one id-less data line, got %q", wire)
	}
	var rep statsReport
	if err := json.Unmarshal([]byte(e.Data), &rep); err != nil {
		t.Fatalf("stats data is not the report: %v: %s", err, e.Data)
	}
	return rep
}

// TestHubStatsEvent: a stats event carries the hub's counters, reaches
// every stream whose selectors match its topic and no other, and leaves the
// history, the counters and the resume point as they were. A subscriber of
// the topic gets the latest one as soon as it joins.
func TestHubStatsEvent(t *testing.T) {
	e := testEntry(t, "ops")
	h := e.Hub
	e.configureStats("hub/stats", time.Hour)

	// The snapshot the hub publishes when it starts reaches a dashboard
	// joining at any moment once: as its latest, or live.
	dash := hubtestJoin(t, h, "dash", 10, "", "hub/stats")
	if got := statstestNext(t, dash.Subscriber, "the first snapshot"); len(got) != 1 {
		t.Fatalf("the dashboard got %d events, want the one first snapshot", len(got))
	}

	all := hubtestJoin(t, h, "all", 10, "", "*")
	prefix := hubtestJoin(t, h, "prefix", 10, "", "hub/*")
	news := hubtestJoin(t, h, "news", 10, "", "news")
	stored := hubtestPublish(t, h, &hub.Event{Topics: []string{"news"}, Data: "headline"})
	hubtestTake(all.Subscriber)
	hubtestTake(news.Subscriber)
	hubtestTake(prefix.Subscriber) // the first snapshot, if it came after prefix joined

	prev := statsSample{at: time.Now().Add(-2 * time.Second)}
	e.publishStats("hub/stats", time.Now(), &prev, e.statsStop)

	got := statstestNext(t, dash.Subscriber, "a stats event")
	if len(got) != 1 {
		t.Fatalf("the dashboard got %d events, want one stats event", len(got))
	}
	rep := statstestReport(t, got[0])
	if rep.Name != "ops" || rep.Subscribers != 4 || rep.Published != 1 || rep.Delivered != 2 ||
		rep.History != 1 || rep.LastID != stored.ID || !rep.Transport.Up {
		t.Errorf("report %+v: want hub ops, 4 subscribers, 1 published, 2 delivered, history 1, last id %s, transport up", rep.hubReport, stored.ID)
	}
	if rep.PublishRate <= 0 || rep.PublishRate > 1 || rep.IntervalSeconds < 2 {
		t.Errorf("one event over about 2s: publish rate %v over %vs", rep.PublishRate, rep.IntervalSeconds)
	}
	if len(rep.Topics) != 4 || rep.Topics[0].Subscribers != 1 {
		t.Errorf("busiest topics %v: want the 4 selectors, one subscriber each", rep.Topics)
	}
	for _, sub := range []*hub.Subscription{all, prefix} {
		if events := statstestNext(t, sub.Subscriber, "the stats event for "+sub.ID); events[0] != got[0] {
			t.Errorf("%s got %v, want the shared stats event", sub.ID, events)
		}
	}
	if ids := hubtestTake(news.Subscriber); len(ids) != 0 {
		t.Errorf("a subscriber of another topic got %v", ids)
	}

	// Not stored, not counted, not a resume point.
	if info := h.Info(); info.History != 1 || info.LastID != stored.ID {
		t.Errorf("history %d, last id %s after a stats event: want 1, %s", info.History, info.LastID, stored.ID)
	}
	if p, d := h.Stats().Published.Load(), h.Stats().Delivered.Load(); p != 1 || d != 2 {
		t.Errorf("published %d, delivered %d: stats events must not count, want 1 and 2", p, d)
	}
	resumed := hubtestJoin(t, h, "resumed", 10, stored.ID, "*")
	if len(resumed.Replay) != 0 || resumed.Reset != "" {
		t.Errorf("a resume from the newest event replays %v (reset %q), want nothing", eventIDs(resumed.Replay), resumed.Reset)
	}

	// Joining: the latest snapshot at once, for subscribers of its topic.
	late := hubtestJoin(t, h, "late", 10, "", "hub/stats")
	if events := late.Take(nil).Events; len(events) != 1 || events[0] != got[0] {
		t.Errorf("a new subscriber of the stats topic has %v queued, want the latest snapshot", events)
	}
	if events := resumed.Take(nil).Events; len(events) != 1 || events[0] != got[0] {
		t.Errorf("a new subscriber of * has %v queued, want the latest snapshot", events)
	}
	if ids := hubtestTake(hubtestJoin(t, h, "other", 10, "", "news").Subscriber); len(ids) != 0 {
		t.Errorf("a new subscriber of another topic has %v queued", ids)
	}

	// Turned off: nothing for the next subscriber, and nothing published.
	stop := e.statsStop
	e.configureStats("", 0)
	e.publishStats("hub/stats", time.Now(), &prev, stop) // a tick of the stopped loop
	if ids := hubtestTake(hubtestJoin(t, h, "after", 10, "", "hub/stats").Subscriber); len(ids) != 0 {
		t.Errorf("after stats were turned off a subscriber got %v", ids)
	}
	if events := dash.Take(nil).Events; len(events) != 0 {
		t.Errorf("after stats were turned off the dashboard got %d events", len(events))
	}
}

// TestHubStatsTicker: the hub publishes every interval, each event with the
// counters of its moment, until it closes.
func TestHubStatsTicker(t *testing.T) {
	e := testEntry(t, "ticker")
	h := e.Hub
	e.configureStats("stats", 20*time.Millisecond)
	dash := hubtestJoin(t, h, "dash", 100, "", "stats")
	var reports []statsReport
	for len(reports) < 3 || reports[len(reports)-1].Published == 0 {
		for _, e := range statstestNext(t, dash.Subscriber, "stats events") {
			reports = append(reports, statstestReport(t, e))
		}
		hubtestPublish(t, h, &hub.Event{Topics: []string{"work"}, Data: "x"})
	}
	for i := 1; i < len(reports); i++ {
		if !reports[i].Time.After(reports[i-1].Time) || reports[i].Published < reports[i-1].Published || reports[i].IntervalSeconds <= 0 {
			t.Fatalf("stats event %d (%v, %d published, over %vs) does not follow %d (%v, %d published)", i,
				reports[i].Time, reports[i].Published, reports[i].IntervalSeconds, i-1, reports[i-1].Time, reports[i-1].Published)
		}
	}
	h.Close()
	hubtestWait(t, dash.Subscriber, "the stream to end with the hub", func() bool {
		return dash.Take(nil).Closed
	})
}

// TestHubStatsSettings: stats_topic and stats_interval are judged in
// Provision, so a JSON config gets the same errors as a Caddyfile.
func TestHubStatsSettings(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
		want string // a substring of the error; empty for none
	}{
		{"off", Handler{}, ""},
		{"topic with the default interval", Handler{StatsTopic: "hub/stats"}, ""},
		{"topic every second", Handler{StatsTopic: "hub/stats", StatsInterval: caddy.Duration(time.Second)}, ""},
		{"interval under a second", Handler{StatsTopic: "s", StatsInterval: caddy.Duration(500 * time.Millisecond)}, "stats_interval 500ms: must be at least 1s"},
		{"negative interval", Handler{StatsTopic: "s", StatsInterval: caddy.Duration(-time.Second)}, "stats_interval -1s: must be at least 1s"},
		{"interval without topic", Handler{StatsInterval: caddy.Duration(time.Second)}, "stats_interval: set stats_topic too"},
		{"selector", Handler{StatsTopic: "hub/*"}, `stats_topic "hub/*": must be an exact topic`},
		{"star", Handler{StatsTopic: "*"}, `stats_topic "*": must be an exact topic`},
		{"line break", Handler{StatsTopic: "a\nb"}, "contains CR, LF or NUL"},
		{"too long", Handler{StatsTopic: strings.Repeat("t", hub.MaxTopicLen+1)}, "stats_topic is longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.checkStats()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestHubStatsSettingsMerge: routes sharing a hub must agree on its stats
// topic and interval; a route that sets neither takes the other's.
func TestHubStatsSettingsMerge(t *testing.T) {
	sec := func(n int) caddy.Duration { return caddy.Duration(time.Duration(n) * time.Second) }
	tests := []struct {
		name       string
		a, b       Handler
		want       string // the merged topic and interval, as "topic interval"
		disagreeOn string
	}{
		{"one route sets it", Handler{StatsTopic: "s", StatsInterval: sec(2)}, Handler{}, "s 2s", ""},
		{"the other route sets it", Handler{}, Handler{StatsTopic: "s"}, "s 5s", ""},
		{"both agree, one by default", Handler{StatsTopic: "s", StatsInterval: sec(5)}, Handler{StatsTopic: "s"}, "s 5s", ""},
		{"topics differ", Handler{StatsTopic: "a"}, Handler{StatsTopic: "b"}, "", "disagree on stats topic: a and b"},
		{"intervals differ", Handler{StatsTopic: "s", StatsInterval: sec(2)}, Handler{StatsTopic: "s"}, "", "disagree on stats interval: 2s and 5s"},
		{"neither", Handler{}, Handler{}, " 0s", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			merged, err := tc.a.hubSettings().merge(tc.b.hubSettings())
			if tc.disagreeOn != "" {
				if err == nil || !strings.Contains(err.Error(), tc.disagreeOn) {
					t.Fatalf("error %v, want one containing %q", err, tc.disagreeOn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := valueOr(merged.StatsTopic, "") + " " + valueOr(merged.StatsInterval, 0).String(); got != tc.want {
				t.Errorf("merged stats %q, want %q", got, tc.want)
			}
		})
	}
}
