package caddysse

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// maxPollWait caps ?wait= so a long-poll ends well before the usual proxy
// and client timeouts.
const maxPollWait = 60 * time.Second

// pollEvent is one event in a polling response.
type pollEvent struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Topic string `json:"topic,omitempty"`
	Data  string `json:"data"`
}

// pollResponse is the JSON polling fallback's answer: the events after the
// client's Last-Event-ID and the id to send next time.
type pollResponse struct {
	Events      []pollEvent  `json:"events"`
	LastEventID string       `json:"lastEventId"`
	Reset       *pollResetTo `json:"reset,omitempty"`
}

type pollResetTo struct {
	LastEventID string `json:"lastEventId"`
	Reason      string `json:"reason"`
}

// poll answers a GET that accepts JSON, for clients without EventSource:
// the events after Last-Event-ID, waiting up to ?wait=<seconds> for the
// first one when there are none yet.
func (h *Handler) poll(w http.ResponseWriter, r *http.Request) error {
	wait, err := pollWait(r)
	if err != nil {
		return writeError(w, http.StatusBadRequest, err)
	}
	queue := max(h.Buffer, h.hub.Config().History)
	sub, leave, err := h.join(r, queue)
	if errors.Is(err, errStopped) {
		err = errStatus(http.StatusServiceUnavailable, "server is reloading; retry")
	}
	if err != nil {
		return writeError(w, 0, err)
	}
	defer leave()

	events := sub.Replay
	if len(events) == 0 && wait > 0 {
		events = waitForEvents(r, sub.Subscriber, wait)
	}
	sub.Close(reasonPollComplete)

	resp := pollResponse{Events: make([]pollEvent, 0, len(events)), LastEventID: sub.Head}
	if sub.Requested != "" && sub.Reset == "" {
		resp.LastEventID = sub.Requested
	}
	if sub.Reset != "" {
		resp.Reset = &pollResetTo{LastEventID: sub.Requested, Reason: string(sub.Reset)}
	}
	for _, e := range events {
		pe := pollEvent{ID: e.ID, Event: e.Name, Data: e.Data}
		if pe.Event == "" {
			pe.Event = "message"
		}
		for _, t := range e.Topics {
			if matchesAny(sub.Topics, []string{t}) {
				pe.Topic = t
				break
			}
		}
		resp.Events = append(resp.Events, pe)
		resp.LastEventID = e.ID
	}
	return writeJSON(w, http.StatusOK, resp)
}

// waitForEvents waits for the first events queued to s, until the wait is
// over, the client leaves or the stream is closed.
func waitForEvents(r *http.Request, s *Subscriber, wait time.Duration) []*Event {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-s.Notify():
		case <-timer.C:
			return nil
		case <-r.Context().Done():
			return nil
		}
		// A heartbeat also signals; only events or the end stop the wait.
		if events, _, closed, _ := s.take(nil); len(events) > 0 || closed {
			return events
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
