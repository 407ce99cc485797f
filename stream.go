package caddysse

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// subscribe serves a GET as an event stream until the client leaves, the
// hub drops it, or the config stops.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) error {
	sub, leave, err := h.join(r, h.Buffer)
	if errors.Is(err, errStopped) {
		return h.redirectStream(w)
	}
	if err != nil {
		return writeError(w, 0, err)
	}
	detached := false
	defer func() {
		if !detached {
			leave()
		}
	}()

	setStreamHeaders(w)
	w.WriteHeader(http.StatusOK)
	out := streamWriter{w: w, rc: http.NewResponseController(w), timeout: time.Duration(h.WriteTimeout)}
	if err := out.send(h.opening(sub), sub.Replay); err != nil {
		sub.Close(reasonWriteFailed)
		return nil
	}
	sub.wrote(time.Now())
	if h.detach(w, r, sub.Subscriber, leave) {
		detached = true
		return nil
	}

	var batch []*Event
	for {
		select {
		case <-sub.Notify():
		case <-r.Context().Done():
			sub.Close(reasonClientGone)
			return nil
		}
		events, heartbeat, closed, reason := sub.take(batch[:0])
		err := out.send(h.hub.besides(heartbeat, closed, reason), events)
		clear(events)
		batch = events
		if closed {
			return nil
		}
		if err != nil {
			sub.Close(reasonWriteFailed)
			return nil
		}
		sub.wrote(time.Now())
	}
}

var errStopped = errors.New("this config is stopping")

// join validates a subscription request, takes a slot under the route's
// limits and subscribes to the hub. leave undoes all of it.
func (h *Handler) join(r *http.Request, queue int) (sub *Subscription, leave func(), err error) {
	topics, err := h.requestTopics(r)
	if err != nil {
		return nil, nil, err
	}
	expires, err := h.JWT.authorizeSubscribe(r)
	if err != nil {
		return nil, nil, err
	}
	ip := clientIP(r)
	if err := h.limits.acquire(ip); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	s := newSubscriber(newConnectionID(), topics, queue, now)
	s.RemoteAddr = r.RemoteAddr
	if h.MaxDuration > 0 {
		s.deadline = now.Add(jitter(time.Duration(h.MaxDuration), 0.8))
	}
	s.endBy(expires, reasonTokenExpired)
	if !h.streams.add(s) {
		h.limits.release(ip)
		return nil, nil, errStopped
	}
	hub := h.hub
	sub, err = hub.Subscribe(s, lastEventID(r))
	if err != nil {
		h.streams.remove(s)
		h.limits.release(ip)
		return nil, nil, errStatus(http.StatusServiceUnavailable, "%v", err)
	}
	setPlaceholders(r, h.Hub, s)
	return sub, func() {
		hub.Unsubscribe(s)
		h.streams.remove(s)
		h.limits.release(ip)
	}, nil
}

// redirectStream answers a subscription that reached a config which is
// shutting down: an empty stream that tells the client to reconnect soon,
// which lands it on the current config. An error status would make
// EventSource give up for good.
func (h *Handler) redirectStream(w http.ResponseWriter) error {
	setStreamHeaders(w)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(jitteredRetry())
	return err
}

func setStreamHeaders(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
}

// opening is what a stream starts with: the retry hint, the "connected"
// event, and a "reset" event when the resume cannot be complete. None of
// them but the reset carries an id; the reset moves the client to the
// newest event, from where its next resume is complete.
func (h *Handler) opening(sub *Subscription) []byte {
	var buf []byte
	if h.Retry > 0 {
		buf = append(appendRetry(buf, time.Duration(h.Retry)), '\n')
	}
	if h.ConnectedEvent == nil || *h.ConnectedEvent {
		data, _ := json.Marshal(map[string]any{"connection": sub.ID, "topics": sub.Topics})
		buf = appendEvent(buf, "", "connected", string(data), 0)
	}
	if sub.Reset != "" {
		buf = appendEvent(buf, sub.Head, "reset", string(resetData(sub)), 0)
	}
	return buf
}

// resetData is the JSON a "reset" event carries.
func resetData(sub *Subscription) []byte {
	data, _ := json.Marshal(map[string]string{"lastEventId": sub.Requested, "reason": string(sub.Reset)})
	return data
}

// besides is what a write carries besides the events taken with it: a
// short retry hint when the stream ends for a shutdown, so the client comes
// back at once rather than after its usual delay (or, when its token
// expired, as soon as it may have a fresh one), or a heartbeat when due.
func (h *Hub) besides(heartbeat, closed bool, reason string) []byte {
	switch {
	case closed && (reason == reasonStopping || reason == reasonHubClosed || reason == reasonTokenExpired):
		return jitteredRetry()
	case heartbeat:
		return h.HeartbeatWire()
	}
	return nil
}

// jitteredRetry is a retry hint of 0.5-1.5s, so the clients of a stopped
// config return quickly but not all in the same instant.
func jitteredRetry() []byte {
	return append(appendRetry(nil, jitter(1500*time.Millisecond, 1.0/3)), '\n')
}

// jitter returns a random duration between frac*d and d.
func jitter(d time.Duration, frac float64) time.Duration {
	return time.Duration(float64(d) * (frac + (1-frac)*rand.Float64()))
}

// newConnectionID returns an unguessable connection id of 16 characters
// from [A-Za-z0-9_-].
func newConnectionID() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// streamWriter writes to one stream with a deadline on each write and
// flushes through the response controller, as Caddy's wrapped writers
// require.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// send writes head, then the events' shared encodings, then one flush. The
// write deadline is cleared afterwards: on HTTP/2 it would fire even while
// the stream is idle.
func (sw streamWriter) send(head []byte, events []*Event) error {
	if sw.timeout > 0 {
		_ = sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout))
		defer func() { _ = sw.rc.SetWriteDeadline(time.Time{}) }()
	}
	if len(head) > 0 {
		if _, err := sw.w.Write(head); err != nil {
			return err
		}
	}
	for _, e := range events {
		if _, err := sw.w.Write(e.Wire()); err != nil {
			return err
		}
	}
	return sw.rc.Flush()
}
