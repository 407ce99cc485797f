package caddysse

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/sseenc"
)

// subscribe serves a GET as an event stream until the client leaves, the
// hub drops it, or the config stops.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) error {
	sub, leave, err := h.join(r, h.Buffer)
	if errors.Is(err, errStopped) {
		return h.redirectStream(w, r)
	}
	if err != nil {
		return writeError(w, 0, err)
	}
	out := newStreamWriter(w, time.Duration(*h.WriteTimeout))
	detached := false
	var writeErr error // the write that ended the stream, if one did
	defer func() {
		if !detached {
			leave()
			h.logStreamEnd(sub.Subscriber, servedGoroutine, out.sent, writeErr)
		}
	}()

	setStreamHeaders(w, h.Compress == "on")
	out.enc = h.streamEncoding(w, r)
	w.WriteHeader(http.StatusOK)
	if err := out.send(hub.Batch{Head: h.opening(sub), Events: sub.Replay}); err != nil {
		writeErr = err
		sub.Close(hub.ReasonWriteFailed)
		h.logStreamOpened(sub.Subscriber, servedGoroutine)
		return nil
	}
	sub.Wrote(time.Now())
	if h.detach(w, r, sub.Subscriber, out.enc, leave, out.sent) {
		detached = true
		return nil
	}
	h.logStreamOpened(sub.Subscriber, servedGoroutine)

	var batch []*hub.Event
	for {
		select {
		case <-sub.Notify():
		case <-r.Context().Done():
			sub.Close(hub.ReasonClientGone)
			return nil
		}
		b := sub.Take(batch[:0])
		err := out.send(b)
		clear(b.Events)
		batch = nil
		if hub.KeepBuffer(len(b.Events), cap(b.Events)) {
			batch = b.Events
		}
		if b.Closed {
			return nil
		}
		if err != nil {
			writeErr = err
			sub.Close(hub.ReasonWriteFailed)
			return nil
		}
		sub.Wrote(time.Now())
	}
}

var errStopped = errors.New("this config is stopping")

// join validates a subscription request, takes a slot under the route's
// limits and subscribes to the hub. leave undoes all of it.
func (h *Handler) join(r *http.Request, queue int) (sub *hub.Subscription, leave func(), err error) {
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
	s := hub.NewSubscriber(newConnectionID(), topics, queue, now)
	s.RemoteAddr = r.RemoteAddr
	if h.MaxDuration > 0 {
		s.EndBy(now.Add(hub.Jitter(time.Duration(h.MaxDuration), 0.8)), hub.ReasonMaxDuration)
	}
	s.EndBy(expires, hub.ReasonTokenExpired)
	if !h.streams.add(s) {
		h.limits.release(ip)
		return nil, nil, errStopped
	}
	hb := h.hub
	sub, err = hb.Subscribe(r.Context(), s, lastEventID(r))
	if err != nil {
		h.streams.remove(s)
		h.limits.release(ip)
		return nil, nil, errStatus(http.StatusServiceUnavailable, "%v", err)
	}
	setPlaceholders(r, h.Hub, s)
	return sub, func() {
		hb.Unsubscribe(s)
		h.streams.remove(s)
		h.limits.release(ip)
	}, nil
}

// redirectStream answers a subscription that reached a config which is
// shutting down: a stream holding only a retry line, which tells the client
// to reconnect soon and lands it on the current config. An error status
// would make EventSource give up for good.
func (h *Handler) redirectStream(w http.ResponseWriter, r *http.Request) error {
	setStreamHeaders(w, h.Compress == "on")
	enc := h.streamEncoding(w, r)
	w.WriteHeader(http.StatusOK)
	for _, b := range enc.Append(nil, hub.RetrySoon(), nil, nil, true) {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// setStreamHeaders sets the headers of an event stream. Unless compress is
// set, no-transform keeps Caddy's encode handler (and proxies) from
// compressing it: an encoder per idle stream costs far more than the
// stream itself. The module's own compression (compress.go) keeps it too.
func setStreamHeaders(w http.ResponseWriter, compress bool) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	if compress {
		hdr.Set("Cache-Control", "no-cache")
	} else {
		hdr.Set("Cache-Control", "no-cache, no-transform")
	}
	hdr.Set("X-Accel-Buffering", "no")
}

// opening is what a stream starts with: the "connected" event and a
// "reset" event when the resume cannot be complete, then the replay. None
// of them but the reset carries an id; the reset moves the client to the
// newest event, from where its next resume is complete.
//
// The retry hint travels in the first event's block, never in a block of
// its own: several clients dispatch a block without data as an empty
// message. With no event to open with, it waits in the subscriber for the
// first one.
func (h *Handler) opening(sub *hub.Subscription) []byte {
	retry := time.Duration(h.Retry)
	var buf []byte
	if h.ConnectedEvent == nil || *h.ConnectedEvent {
		data, _ := json.Marshal(map[string]any{"connection": sub.ID, "topics": sub.Topics})
		buf = hub.AppendEvent(buf, "", "connected", string(data), retry)
		retry = 0
	}
	if sub.Reset != "" {
		buf = hub.AppendEvent(buf, sub.Head, "reset", string(resetData(sub)), retry)
		retry = 0
	}
	if retry > 0 {
		if len(sub.Replay) > 0 {
			// Lines concatenate: this joins the first replayed event's block.
			buf = hub.AppendRetry(buf, retry)
		} else {
			sub.CarryRetry(hub.AppendRetry(nil, retry))
		}
	}
	return buf
}

// resetData is the JSON a "reset" event carries.
func resetData(sub *hub.Subscription) []byte {
	data, _ := json.Marshal(map[string]string{"lastEventId": sub.Requested, "reason": string(sub.Reset)})
	return data
}

// newConnectionID returns an unguessable connection id of 16 characters
// from [A-Za-z0-9_-].
func newConnectionID() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// streamWriter writes to one stream and flushes through the response
// controller, as Caddy's wrapped writers require. A write that blocks
// longer than timeout is cut off: a timer of the stream's own, armed only
// around each send, sets a write deadline in the past, which ends the
// blocked write on HTTP/1.1 and resets the stream on HTTP/2. Setting and
// clearing a deadline around every send instead cost two round trips to
// HTTP/2's connection goroutine per event and stream, besides the one
// Caddy's write_idle makes on every write.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	timer   *time.Timer   // fires cut; stopped between sends
	cut     chan struct{} // closed once the timer has cut a write off
	enc     sseenc.Stream // the stream's content encoding
	bufs    [][]byte      // reused by write
	sent    streamTotals  // what the sends that succeeded wrote
}

// errWriteTimeout reports a send cut off by the write timeout.
var errWriteTimeout = errors.New("write timed out")

func newStreamWriter(w http.ResponseWriter, timeout time.Duration) *streamWriter {
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), timeout: timeout}
	if timeout > 0 {
		sw.cut = make(chan struct{})
		sw.timer = time.AfterFunc(timeout, func() {
			_ = sw.rc.SetWriteDeadline(time.Now())
			close(sw.cut)
		})
		sw.timer.Stop()
	}
	return sw
}

// send writes a batch: its head, the events' shared encodings and its
// tail, and the end of the encoded stream when the batch closes it, then
// flushes once. After a send that timed out the stream is unusable; the
// caller ends it. No timer callback runs once send has returned.
func (sw *streamWriter) send(b hub.Batch) error {
	if sw.timer == nil {
		return sw.write(b)
	}
	sw.timer.Reset(sw.timeout)
	err := sw.write(b)
	if !sw.timer.Stop() {
		<-sw.cut // the deadline is set: the stream cannot be written again
		return errWriteTimeout
	}
	return err
}

func (sw *streamWriter) write(b hub.Batch) error {
	sw.bufs = sw.enc.Append(sw.bufs[:0], b.Head, b.Events, b.Tail, b.Closed)
	defer clear(sw.bufs)
	for _, p := range sw.bufs {
		if _, err := sw.w.Write(p); err != nil {
			return err
		}
	}
	if err := sw.rc.Flush(); err != nil {
		return err
	}
	sw.sent.Events += len(b.Events)
	for _, p := range sw.bufs {
		sw.sent.Bytes += len(p)
	}
	return nil
}
