package caddysse

import (
	"strings"
	"testing"
)

// The retry hint never forms a block of its own (issue 7): it travels in
// the connected event, the reset, the first replayed event, or the first
// live one, on both serving paths. Every whole-server stream also fails its
// test on a blank line that dispatches nothing (see stream.strayBlanks).
func TestServerRetryTravelsWithAnEvent(t *testing.T) {
	site := `
	sse /on {
		retry 2s
	}
	sse /off {
		retry 2s
		connected_event off
	}
	sse /publish {
		publish
	}
`
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, site)
		first := s.mustPublish("/publish", `{"topic":"a","data":"replayed"}`)
		s.mustPublish("/publish", `{"topic":"a","data":"replayed too"}`)
		tests := []struct {
			name, url string
			header    []string
			wantFirst func(sseEvent) bool
		}{
			{"connected event", "/on?topic=a", nil, func(ev sseEvent) bool { return ev.Name == "connected" }},
			{"reset without connected event", "/off?topic=a", []string{"Last-Event-ID", "garbage"}, func(ev sseEvent) bool { return ev.Name == "reset" }},
			{"first replayed event", "/off?topic=a", []string{"Last-Event-ID", first}, func(ev sseEvent) bool { return ev.Data == "replayed too" }},
			{"first live event", "/off?topic=a", nil, func(ev sseEvent) bool { return ev.Data == "live" }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st := s.subscribe(tt.url, tt.header...)
				if tt.name == "first live event" {
					s.mustPublish("/publish", `{"topic":"a","data":"live"}`)
				}
				ev := st.next()
				if !tt.wantFirst(ev) || ev.Retry != "2000" {
					t.Fatalf("first event %+v, want it to carry retry: 2000", ev)
				}
				if raw := st.raw.String(); strings.Count(raw, "retry:") != 1 || strings.Contains(raw, "\n\nretry:") || strings.HasPrefix(raw, "retry: 2000\n\n") {
					t.Fatalf("the retry line must sit in the first event's block:\n%s", raw)
				}
				if tt.name == "first live event" {
					next := s.mustPublish("/publish", `{"topic":"a","data":"second"}`)
					if ev := st.next(); ev.ID != next || ev.Retry != "" {
						t.Fatalf("the second event %+v should carry no retry", ev)
					}
				}
			})
		}
	})
}

// Heartbeats are comment lines without a blank line of their own, so that
// no client dispatches them; the events around them arrive intact.
func TestServerHeartbeatIsACommentLine(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, "sse /events {\nheartbeat 100ms\n}\nsse /publish {\npublish\n}")
		st := s.subscribe("/events?topic=a")
		st.nextEvent() // connected
		for range 2 {
			if ev := st.next(); ev.Comment != "" || ev.Name != "" || ev.Data != "" {
				t.Fatalf("got %+v, want a heartbeat comment", ev)
			}
		}
		id := s.mustPublish("/publish", `{"topic":"a","event":"e","data":"x"}`)
		if ev := st.nextEvent(); ev != (sseEvent{ID: id, Name: "e", Data: "x"}) {
			t.Fatalf("after heartbeats got %+v", ev)
		}
		if raw := st.raw.String(); !strings.Contains(raw, ":\n") || strings.Contains(raw, ":\n\n") {
			t.Fatalf("heartbeats should be ':' lines without a blank line:\n%q", raw)
		}
	})
}
