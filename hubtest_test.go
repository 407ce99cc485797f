package caddysse

import (
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// testEntry starts a hub entry with a history of 10 on the memory
// transport, destroyed when the test ends.
func testEntry(t testing.TB, name string) *hubEntry {
	t.Helper()
	e, err := newHubEntry(name, hubSettings{History: new(10)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Destruct() })
	return e
}

// hubtestJoin subscribes a new subscriber with the given id and selectors.
func hubtestJoin(t testing.TB, h *hub.Hub, id string, limit int, lastEventID string, topics ...string) *hub.Subscription {
	t.Helper()
	sub, err := h.Subscribe(t.Context(), hub.NewSubscriber(id, topics, limit, time.Now()), lastEventID)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", id, err)
	}
	return sub
}

// hubtestPublish publishes one event and returns it.
func hubtestPublish(t testing.TB, h *hub.Hub, e *hub.Event) *hub.Event {
	t.Helper()
	if err := h.Publish(t.Context(), []*hub.Event{e}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return e
}

// hubtestTake returns the ids of the events waiting for s.
func hubtestTake(s *hub.Subscriber) []string { return eventIDs(s.Take(nil).Events) }

// hubtestWait waits until cond holds, or fails the test after a generous
// deadline; it asserts that something happens, not when.
func hubtestWait(t *testing.T, s *hub.Subscriber, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-s.Notify():
		case <-time.After(5 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func eventIDs(events []*hub.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}
