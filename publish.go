package caddysse

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-sse/caddy-sse/hub"
)

// Bounds of a publish request.
const (
	maxBatch = 1000           // events in one request
	maxRetry = 24 * time.Hour // a retry hint
)

// publishResult is the response for one published event.
type publishResult struct {
	ID          string `json:"id"`
	Subscribers int    `json:"subscribers"`
}

// publish decodes a POST body into events, stores and fans them out, and
// answers with their ids. Nothing is published unless every event of the
// request is valid.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request) error {
	if mediaType(r) == ndjsonType {
		return h.publishStream(w, r)
	}
	token, err := h.admitPublisher(r)
	if err != nil {
		return writeError(w, 0, err)
	}
	var authorize func([]*hub.Event) error
	if token != nil {
		authorize = token.authorizePublish
	}
	return publishBody(w, r, h.hub, h.maxBody(), h.MaxEventSize, authorize, h.logger)
}

// admitPublisher checks what every publish request needs before its body
// is read: that no other site's page sent it, and, with jwt, a valid
// token, whose grant it returns (nil without jwt).
func (h *Handler) admitPublisher(r *http.Request) (*grant, error) {
	if err := h.checkPublishOrigin(r); err != nil {
		return nil, err
	}
	if h.JWT == nil {
		return nil, nil
	}
	return h.JWT.publishGrant(r)
}

// publishBody reads a publish request's body (at most maxBody bytes),
// decodes it into events of at most maxEvent bytes each, lets authorize
// (when set) refuse them, stores and fans them out, and answers with their
// ids. Nothing is published unless every event of the request passes. A
// publish the transport refused is logged to logger, when set.
func publishBody(w http.ResponseWriter, r *http.Request, hb *hub.Hub, maxBody, maxEvent int, authorize func([]*hub.Event) error, logger *zap.Logger) error {
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return writeError(w, 0, err)
	}
	events, batch, err := decodePublish(mediaType(r), body, maxEvent)
	if err != nil {
		return writeError(w, 0, err)
	}
	if err := applyIdempotencyKey(r, events, batch); err != nil {
		return writeError(w, 0, err)
	}
	if authorize != nil {
		if err := authorize(events); err != nil {
			return writeError(w, 0, err)
		}
	}
	if err := hb.Publish(r.Context(), events); err != nil {
		logStoreFailure(logger, hb.Config().Name, r, len(events), err)
		return writeError(w, 0, storeError(err))
	}
	if slices.ContainsFunc(events, (*hub.Event).Repeated) {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeAcks(w, events, batch)
	return nil
}

// bodyPrealloc is the largest announced body read into a buffer made
// before it arrives; a larger one grows as it comes, so that a client
// cannot make the hub hold limit bytes per connection by announcing them.
const bodyPrealloc = 64 << 10

// readBody reads a request body of at most limit bytes. A small body
// whose length is announced, as nearly every publish is, is read at once
// into a buffer of that size; a chunked or larger one grows as it arrives.
func readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	if n := r.ContentLength; n > int64(limit) {
		return nil, bodyTooLarge(limit)
	} else if n >= 0 && n <= bodyPrealloc {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, errStatus(http.StatusBadRequest, "reading request body: %w", err)
		}
		return body, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, bodyTooLarge(limit)
		}
		return nil, errStatus(http.StatusBadRequest, "reading request body: %w", err)
	}
	return body, nil
}

// bodyTooLarge is the answer to a body over limit bytes.
func bodyTooLarge(limit int) error {
	return errStatus(http.StatusRequestEntityTooLarge, "request body is over %d bytes", limit)
}

// writeAcks answers a publish with the acks of its stored events, as
// writeJSON would encode publishResult (or a list of them for a batch),
// without reflection: it is the answer to every publish.
func writeAcks(w http.ResponseWriter, events []*hub.Event, batch bool) {
	b := make([]byte, 0, 48*len(events)+2)
	if batch {
		b = append(b, '[')
	}
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		ack := e.Ack()
		b = appendAck(b, ack.ID, ack.Subscribers)
	}
	if batch {
		b = append(b, ']')
	}
	writeJSONBody(w, http.StatusOK, append(b, '\n'))
}

// appendAck appends a stored event's ack, {"id":...,"subscribers":N}, as
// json.Marshal of publishResult would.
func appendAck(b []byte, id string, subscribers int) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"subscribers":`...)
	b = strconv.AppendInt(b, int64(subscribers), 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. Event ids are plain ASCII
// and are copied as they are; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// maxBody caps a publish request body: room for a batch, and for a full-size
// event even when JSON escaping inflates it.
func (h *Handler) maxBody() int {
	return max(1<<20, 8*h.MaxEventSize)
}

// decodePublish turns a publish body into validated events. batch reports a
// JSON array, which is answered with an array.
func decodePublish(contentType string, body []byte, maxSize int) (events []*hub.Event, batch bool, err error) {
	switch contentType {
	case "application/json":
		events, batch, err = decodeJSON(body)
	case "application/x-www-form-urlencoded":
		var e *hub.Event
		e, err = decodeForm(body)
		events = []*hub.Event{e}
	case "":
		return nil, false, errStatus(http.StatusUnsupportedMediaType, "missing Content-Type: use application/json, application/x-www-form-urlencoded or "+ndjsonType)
	default:
		return nil, false, errStatus(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: use application/json, application/x-www-form-urlencoded or "+ndjsonType, contentType)
	}
	if err != nil {
		return nil, false, errStatus(http.StatusBadRequest, "%v", err)
	}
	for i, e := range events {
		if err := e.Validate(maxSize); err != nil {
			status := http.StatusBadRequest
			if errors.As(err, new(hub.ErrTooLarge)) {
				status = http.StatusRequestEntityTooLarge
			}
			if batch {
				return nil, false, errStatus(status, "event %d: %v", i, err)
			}
			return nil, false, errStatus(status, "%v", err)
		}
	}
	return events, batch, nil
}

// jsonEvent is the JSON form of a publish, with the aliases the hand-written
// hubs it replaces use; decodeJSONEvents (publish_json.go) fills it.
type jsonEvent struct {
	Topic      string
	Topics     []string
	Event      string
	Type       string
	EventType  string
	Data       string // a JSON string as it is, any other value as its compact text
	HasData    bool
	Message    string // the alias of Data
	HasMessage bool
	Retry      int64 // milliseconds
	HasRetry   bool
	Connection string
	Exclude    string
	// IdempotencyKey makes a retry of this event within the hub's
	// idempotency window a no-op answered with the first ack.
	IdempotencyKey string
}

func decodeJSON(body []byte) ([]*hub.Event, bool, error) {
	// Most publishes are one object, decoded here without the slice of
	// jsonEvents a batch needs.
	var one jsonEvent
	switch err := decodeJSONObject(body, &one); {
	case err == nil:
		e, err := one.event()
		if err != nil {
			return nil, false, err
		}
		return []*hub.Event{e}, false, nil
	case !errors.Is(err, errJSONArray):
		return nil, false, err
	}
	objs, batch, err := decodeJSONEvents(body)
	if err != nil {
		return nil, false, err
	}
	if batch {
		if len(objs) == 0 {
			return nil, false, errors.New("empty array: no events to publish")
		}
		if len(objs) > maxBatch {
			return nil, false, fmt.Errorf("%d events in one request, at most %d", len(objs), maxBatch)
		}
	}
	events := make([]*hub.Event, len(objs))
	for i, o := range objs {
		e, err := o.event()
		if err != nil {
			if batch {
				return nil, false, fmt.Errorf("event %d: %w", i, err)
			}
			return nil, false, err
		}
		events[i] = e
	}
	return events, batch, nil
}

func (o jsonEvent) event() (*hub.Event, error) {
	name, err := oneOf("event", o.Event, "type", o.Type, "eventType", o.EventType)
	if err != nil {
		return nil, err
	}
	if o.HasData && o.HasMessage {
		return nil, errors.New("both data and message are set; use one")
	}
	data := o.Data
	if o.HasMessage {
		data = o.Message
	}
	e := &hub.Event{Topics: topicList(o.Topic, o.Topics), Name: name, Data: data, Connection: o.Connection, Exclude: o.Exclude, IdempotencyKey: o.IdempotencyKey}
	if o.HasRetry {
		if o.Retry < 0 || o.Retry > maxRetry.Milliseconds() {
			return nil, fmt.Errorf("retry %d: want milliseconds from 0 to %d", o.Retry, maxRetry.Milliseconds())
		}
		e.Retry = time.Duration(o.Retry) * time.Millisecond
	}
	return e, nil
}

// oneOf picks the value of a field that has aliases; setting two aliases to
// different values is an error.
func oneOf(pairs ...string) (string, error) {
	var name, value string
	for i := 0; i < len(pairs); i += 2 {
		if v := pairs[i+1]; v != "" {
			if value != "" && v != value {
				return "", fmt.Errorf("%s and %s disagree: %q and %q", name, pairs[i], value, v)
			}
			name, value = pairs[i], v
		}
	}
	return value, nil
}

// topicList merges the single and the list form of the topic field,
// without duplicates.
func topicList(topic string, topics []string) []string {
	if topic != "" {
		topics = append([]string{topic}, topics...)
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}

// formFields are the fields of a form publish; true for the repeatable one.
var formFields = map[string]bool{
	"topic": true, "event": false, "type": false, "data": false,
	"retry": false, "connection": false, "exclude": false,
}

// decodeForm reads a form publish: topic (repeatable), event (alias type),
// data, retry, connection, exclude.
func decodeForm(body []byte) (*hub.Event, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("malformed form: %w", err)
	}
	// As with JSON, a field the hub does not know (a misspelling, or a
	// Mercure publisher's "private" or "id") is refused, not ignored.
	for field, values := range form {
		repeatable, known := formFields[field]
		switch {
		case !known:
			return nil, fmt.Errorf("unknown form field %q", field)
		case len(values) > 1 && !repeatable:
			return nil, fmt.Errorf("form field %q is given %d times; only topic repeats", field, len(values))
		}
	}
	name, err := oneOf("event", form.Get("event"), "type", form.Get("type"))
	if err != nil {
		return nil, err
	}
	e := &hub.Event{
		Topics:     topicList("", form["topic"]),
		Name:       name,
		Data:       form.Get("data"),
		Connection: form.Get("connection"),
		Exclude:    form.Get("exclude"),
	}
	if v := form.Get("retry"); v != "" {
		ms, err := strconv.ParseUint(v, 10, 63)
		if err != nil || ms > uint64(maxRetry.Milliseconds()) {
			return nil, fmt.Errorf("retry %q: want milliseconds from 0 to %d", v, maxRetry.Milliseconds())
		}
		e.Retry = time.Duration(ms) * time.Millisecond
	}
	return e, nil
}
