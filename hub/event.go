package hub

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Event is one published event. Once published it is immutable: the same
// value sits in the history and in every subscriber's queue, and its wire
// form is encoded once and written to all of them.
type Event struct {
	// ID is assigned by the transport when the event is stored.
	ID string
	// Seq is the event's place in its transport's order, assigned with ID.
	Seq uint64
	// Topics the event is published to; a subscriber receives it when any
	// of its selectors matches any of these.
	Topics []string
	// Name is the SSE event type; empty means "message".
	Name string
	// Data is the payload, sent as one data line per line.
	Data string
	// Retry, when positive, is sent as the client's reconnection delay.
	Retry time.Duration
	// Connection, when set, restricts delivery to that one subscriber.
	Connection string
	// Exclude, when set, skips that one subscriber.
	Exclude string
	// Time is when the hub stored the event; history ages from it.
	Time time.Time
	// IdempotencyKey, when set, makes a publish that repeats it within the
	// hub's idempotency window a no-op answered with the first one's ack.
	IdempotencyKey string

	wire    []byte
	encoded [EncodedSlots]atomic.Pointer[[]byte] // see Encoded
	queued  int                                  // local subscribers it was queued to, set on delivery
	repeat  bool                                 // see Repeat
}

// Ack is what a publisher is told of a stored event.
type Ack struct {
	ID          string
	Seq         uint64
	Time        time.Time
	Subscribers int // local subscribers the event was queued to
}

// Ack returns the event's acknowledgement; Subscribers is known once the
// transport delivered it.
func (e *Event) Ack() Ack {
	return Ack{ID: e.ID, Seq: e.Seq, Time: e.Time, Subscribers: e.queued}
}

// Repeat marks e as a repeat of an event already stored under its
// idempotency key, acknowledged with that event's ack. Transports call it
// from Append instead of storing e.
func (e *Event) Repeat(first Ack) {
	e.ID, e.Seq, e.Time, e.queued, e.repeat = first.ID, first.Seq, first.Time, first.Subscribers, true
}

// Repeated reports whether Append found e to be a repeat.
func (e *Event) Repeated() bool { return e.repeat }

// Wire returns the event's SSE encoding. It is computed when the event is
// stored and never changes afterwards.
func (e *Event) Wire() []byte {
	if e.wire == nil {
		buf := make([]byte, 0, encodedLen(e.ID, e.Name, e.Data, e.Retry))
		e.wire = AppendEvent(buf, e.ID, e.Name, e.Data, e.Retry)
	}
	return e.wire
}

// EncodedSlots is how many content encodings of its wire form an event
// can cache (see Encoded).
const EncodedSlots = 2

// Encoded returns the event's wire form as encode turns it into a content
// encoding, computed on first use and kept under slot (below EncodedSlots,
// one per encoding), so that every stream sending the event in that
// encoding shares the same bytes. Streams may ask concurrently: encode must
// then be deterministic, as racing callers may each run it and one result
// is kept for all.
func (e *Event) Encoded(slot int, encode func(wire []byte) []byte) []byte {
	if p := e.encoded[slot].Load(); p != nil {
		return *p
	}
	b := encode(e.Wire())
	if e.encoded[slot].CompareAndSwap(nil, &b) {
		return b
	}
	return *e.encoded[slot].Load()
}

// AppendEvent appends the SSE framing of one event to buf: the id, the event
// name (left out for "message"), a retry hint, one data line per line of
// data, and the blank line that dispatches it. CR, LF and CRLF all end a
// line, as the EventSource parser reads them, so no payload can inject a
// field of its own. Name and id must already be validated (no CR, LF, NUL).
func AppendEvent(buf []byte, id, name, data string, retry time.Duration) []byte {
	if id != "" {
		buf = append(buf, "id: "...)
		buf = append(buf, id...)
		buf = append(buf, '\n')
	}
	if name != "" && name != "message" {
		buf = append(buf, "event: "...)
		buf = append(buf, name...)
		buf = append(buf, '\n')
	}
	if retry > 0 {
		buf = AppendRetry(buf, retry)
	}
	for {
		i := strings.IndexAny(data, "\r\n")
		buf = append(buf, "data: "...)
		if i < 0 {
			buf = append(buf, data...)
			buf = append(buf, '\n')
			break
		}
		buf = append(buf, data[:i]...)
		buf = append(buf, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(buf, '\n')
}

// encodedLen bounds the length of AppendEvent's encoding, so that it is
// made in one allocation: every line break of data may start a line of its
// own (a CRLF is counted twice), each with a "data: " prefix.
func encodedLen(id, name, data string, retry time.Duration) int {
	n := len("id: \n") + len(id) + len("event: \n") + len(name) + len("\n")
	if retry > 0 {
		n += len("retry: \n") + 20
	}
	breaks := strings.Count(data, "\n") + strings.Count(data, "\r")
	return n + len(data) + (breaks+1)*len("data: \n")
}

// AppendRetry appends a "retry:" field in milliseconds.
func AppendRetry(buf []byte, d time.Duration) []byte {
	buf = append(buf, "retry: "...)
	buf = strconv.AppendInt(buf, d.Milliseconds(), 10)
	return append(buf, '\n')
}

// Limits on the fields of an event, beyond max_event_size for the whole.
const (
	MaxNameLen  = 256
	MaxTopicLen = 1024
	MaxTopics   = 64
)

var errEmpty = errors.New("is empty")

// CheckField validates a value that is written into an SSE field or used as
// a key: it must be valid UTF-8, free of CR, LF and NUL, and at most max
// bytes long.
func CheckField(what, v string, max int) error {
	switch {
	case v == "":
		return fmt.Errorf("%s %w", what, errEmpty)
	case len(v) > max:
		return fmt.Errorf("%s is longer than %d bytes", what, max)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.ContainsAny(v, "\r\n\x00"):
		return fmt.Errorf("%s %q contains CR, LF or NUL", what, v)
	}
	return nil
}

// Validate reports what is wrong with an event before it is published;
// maxSize bounds its size (see size).
func (e *Event) Validate(maxSize int) error {
	if len(e.Topics) == 0 && e.Connection == "" {
		return errors.New("no topic: set topic or topics")
	}
	if len(e.Topics) > MaxTopics {
		return fmt.Errorf("too many topics: %d, at most %d", len(e.Topics), MaxTopics)
	}
	for _, t := range e.Topics {
		if err := CheckField("topic", t, MaxTopicLen); err != nil {
			return err
		}
		if strings.HasSuffix(t, "*") {
			return fmt.Errorf("topic %q is a selector; publish to exact topics", t)
		}
	}
	if e.Name != "" {
		if err := CheckField("event name", e.Name, MaxNameLen); err != nil {
			return err
		}
	}
	for _, f := range [...]struct{ what, v string }{{"connection", e.Connection}, {"exclude", e.Exclude}, {"idempotency key", e.IdempotencyKey}} {
		if f.v != "" {
			if err := CheckField(f.what, f.v, MaxNameLen); err != nil {
				return err
			}
		}
	}
	if !utf8.ValidString(e.Data) {
		return errors.New("data is not valid UTF-8")
	}
	if e.Retry < 0 {
		return errors.New("retry is negative")
	}
	if size := e.size(); size > maxSize {
		return ErrTooLarge{size: size, max: maxSize}
	}
	return nil
}

// size is what max_event_size bounds: the event's SSE encoding without the
// id line (the id is assigned when the event is stored, and is short), plus
// its topics, which the history keeps with it. Counting the encoding rather
// than the data matters: every line break of the data costs a "data: "
// prefix on the wire.
func (e *Event) size() int {
	n := framedSize(e.Name, e.Data, e.Retry)
	for _, t := range e.Topics {
		n += len(t)
	}
	return n
}

// framedSize is len(appendEvent(nil, "", name, data, retry)), computed
// without encoding.
func framedSize(name, data string, retry time.Duration) int {
	n := len("\n") // the blank line that dispatches the event
	if name != "" && name != "message" {
		n += len("event: ") + len(name) + len("\n")
	}
	if retry > 0 {
		var digits [20]byte
		n += len("retry: ") + len(strconv.AppendInt(digits[:0], retry.Milliseconds(), 10)) + len("\n")
	}
	for {
		n += len("data: ") + len("\n")
		i := strings.IndexAny(data, "\r\n")
		if i < 0 {
			return n + len(data)
		}
		n += i
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

// ErrTooLarge is an event over max_event_size; it maps to 413.
type ErrTooLarge struct{ size, max int }

func (e ErrTooLarge) Error() string {
	return fmt.Sprintf("event is %d bytes encoded (data lines with their framing, name, retry and topics), over max_event_size of %d", e.size, e.max)
}

// RetrySoon is a retry line of 0.5-1.5s, so the clients of a stopped
// stream return quickly but not all in the same instant.
func RetrySoon() []byte {
	return AppendRetry(nil, Jitter(1500*time.Millisecond, 1.0/3))
}

// Jitter returns a random duration between frac*d and d.
func Jitter(d time.Duration, frac float64) time.Duration {
	return time.Duration(float64(d) * (frac + (1-frac)*rand.Float64()))
}
