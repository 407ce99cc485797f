package caddysse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/caddy-sse/caddy-sse/hub"
)

// quietSite has a history of 10 events, so that 20 events of a busy topic
// push everything else out of it.
const quietSite = `
	sse /events {
		history 10
	}
	sse /publish {
		publish
	}
`

// quietSetup publishes one event to "a", then 20 to "b", and returns the id
// of the event on "a".
func quietSetup(s *testServer) string {
	s.t.Helper()
	id := s.mustPublish("/publish", `{"topic":"a","data":"quiet"}`)
	for i := range 20 {
		s.mustPublish("/publish", fmt.Sprintf(`{"topic":"b","data":"busy %d"}`, i))
	}
	return id
}

// A subscriber of a quiet topic resumes without a reset however many events
// of other topics left the history (issue 7), on both serving paths; one
// whose topic lost events still gets its reset.
func TestServerQuietTopicResumesWithoutReset(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, quietSite)
		last := quietSetup(s)

		st := s.subscribe("/events?topic=a", "Last-Event-ID", last)
		st.nextEvent() // connected
		id := s.mustPublish("/publish", `{"topic":"a","data":"live"}`)
		if ev := st.nextEvent(); ev.ID != id || ev.Name == "reset" {
			t.Fatalf("the quiet subscriber got %+v, want the live event and no reset", ev)
		}

		busy := s.subscribe("/events?topic=b", "Last-Event-ID", last)
		busy.nextEvent() // connected
		if ev := busy.nextEvent(); ev.Name != "reset" {
			t.Fatalf("the busy topic's subscriber got %+v, want a reset", ev)
		}
	})
}

// The same guarantee for a poll.
func TestServerQuietTopicPollsWithoutReset(t *testing.T) {
	s := startServer(t, quietSite)
	last := quietSetup(s)
	poll := func(topic string) pollResponse {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.url("/events?topic="+topic+"&last_event_id="+last), nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out pollResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("poll: %d %v", resp.StatusCode, err)
		}
		return out
	}
	if got := poll("a"); got.Reset != nil || len(got.Events) != 0 {
		t.Errorf("a poll of the quiet topic answered %+v, want no events and no reset", got)
	}
	if got := poll("b"); got.Reset == nil || got.Reset.Reason != string(hub.ResetExpired) {
		t.Errorf("a poll of the busy topic answered %+v, want a reset", got)
	}
}
