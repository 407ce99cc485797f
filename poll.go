package caddysse

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// maxPollWait caps ?wait= so a long-poll ends well before the usual proxy
// and client timeouts.
const maxPollWait = 60 * time.Second

// Bounds of one polling answer. A client whose answer says "more" polls
// again at once from its lastEventId.
const (
	maxPollEvents = 1000
	maxPollData   = 4 << 20 // bytes of event data; the first event always fits
)

// pollEvent is one event in a polling response.
type pollEvent struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Topic string `json:"topic,omitempty"`
	Data  string `json:"data"`
}

// pollResponse is the JSON polling fallback's answer: the events after the
// client's Last-Event-ID and the id to send next time, which is the last
// event's or, when none matched, the hub's newest, so the cursor moves on
// even on a quiet topic.
type pollResponse struct {
	Events      []pollEvent `json:"events"`
	LastEventID string      `json:"lastEventId"`
	// More says that events are waiting beyond this answer's bounds.
	More  bool         `json:"more,omitempty"`
	Reset *pollResetTo `json:"reset,omitempty"`
}

type pollResetTo struct {
	LastEventID string `json:"lastEventId"`
	Reason      string `json:"reason"`
}

// poll answers a GET that accepts JSON, for clients without EventSource:
// the events after Last-Event-ID, waiting up to ?wait=<seconds> for the
// first one when there are none yet. A Last-Event-ID that cannot be resumed
// from is answered at once with the reset.
func (h *Handler) poll(w http.ResponseWriter, r *http.Request) error {
	wait, err := pollWait(r)
	if err != nil {
		return writeError(w, http.StatusBadRequest, err)
	}
	// Events that arrive while waiting queue up to one answer's worth;
	// beyond that the client continues from the history.
	sub, leave, err := h.join(r, maxPollEvents)
	if errors.Is(err, errStopped) {
		err = errStatus(http.StatusServiceUnavailable, "server is reloading; retry")
	}
	if err != nil {
		return writeError(w, 0, err)
	}
	defer leave()

	events, more := sub.Replay, false
	if len(events) == 0 && wait > 0 && sub.Reset == "" {
		events, more = waitForEvents(r, sub.Subscriber, wait)
	}
	sub.Close(hub.ReasonPollComplete)

	if n := pollBound(events); n < len(events) {
		events, more = events[:n], true
	}
	resp := pollResponse{Events: make([]pollEvent, 0, len(events)), LastEventID: sub.Head, More: more}
	if sub.Reset != "" {
		resp.Reset = &pollResetTo{LastEventID: sub.Requested, Reason: string(sub.Reset)}
	}
	for _, e := range events {
		pe := pollEvent{ID: e.ID, Event: e.Name, Data: e.Data, Topic: matchedTopic(sub.Topics, e.Topics)}
		if pe.Event == "" {
			pe.Event = "message"
		}
		resp.Events = append(resp.Events, pe)
		resp.LastEventID = e.ID
	}
	return writeJSON(w, http.StatusOK, resp)
}

// pollBound is how many of the events, oldest first, fit in one answer: at
// most maxPollEvents, and no more than maxPollData bytes of data unless a
// single event is larger on its own.
func pollBound(events []*hub.Event) int {
	size := 0
	for i, e := range events {
		size += len(e.Data)
		if i == maxPollEvents || (i > 0 && size > maxPollData) {
			return i
		}
	}
	return len(events)
}

// matchedTopic is the first of an event's topics the subscriber asked for.
func matchedTopic(selectors, topics []string) string {
	for _, t := range topics {
		for _, sel := range selectors {
			if hub.SelectorMatches(sel, t) {
				return t
			}
		}
	}
	return ""
}

// waitForEvents waits for the first events queued to s, until the wait is
// over, the client leaves or the stream is closed. more reports that the
// queue overflowed, so events beyond those returned are waiting in the
// history.
func waitForEvents(r *http.Request, s *hub.Subscriber, wait time.Duration) (events []*hub.Event, more bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-s.Notify():
		case <-timer.C:
			return nil, false
		case <-r.Context().Done():
			return nil, false
		}
		// A heartbeat also signals; only events or the end stop the wait.
		// Stats events are not stored and carry no id to resume from: a
		// poll, a cursor over the history, leaves them out.
		b := s.Take(nil)
		events := slices.DeleteFunc(b.Events, func(e *hub.Event) bool { return e.ID == "" })
		if len(events) > 0 || b.Closed {
			return events, b.Reason == hub.ReasonQueueFull
		}
	}
}

// pollWait reads ?wait=<seconds>.
func pollWait(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || secs < 0 {
		return 0, errStatus(http.StatusBadRequest, "wait %q: want a number of seconds", v)
	}
	return min(time.Duration(secs*float64(time.Second)), maxPollWait), nil
}
