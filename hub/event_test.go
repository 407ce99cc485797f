package hub

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy-sse/caddy-sse/internal/ssetest"
)

func TestSpecParserSanity(t *testing.T) {
	// The parser is the oracle for the encoder tests, so check it against
	// the examples of the spec itself.
	got := ssetest.Parse("data: YHOO\ndata: +2\ndata: 10\n\n")
	if len(got.Events) != 1 || got.Events[0].Data != "YHOO\n+2\n10" || got.Events[0].Type != "message" {
		t.Fatalf("spec example 1: %+v", got.Events)
	}
	got = ssetest.Parse(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n")
	want := []ssetest.Event{
		{Type: "message", Data: "first event", LastEventID: "1"},
		{Type: "message", Data: "second event", LastEventID: ""},
	}
	if !slices.Equal(got.Events, want) || got.Partial != "" {
		t.Fatalf("spec example 2: got %+v, want %+v", got.Events, want)
	}
	got = ssetest.Parse("data\n\ndata\ndata\n\ndata:\n")
	if len(got.Events) != 2 || got.Events[0].Data != "" || got.Events[1].Data != "\n" {
		t.Fatalf("spec example 3: %+v", got.Events)
	}
	got = ssetest.Parse("event: x\r\nretry: 1500\rid: 7\n\n")
	if len(got.Events) != 0 || got.Retry != 1500 {
		t.Fatalf("no data field must dispatch nothing: %+v", got)
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name  string
		id    string
		event string
		data  string
		retry time.Duration
		want  string
	}{
		{"plain message", "1-1", "", "hello", 0, "id: 1-1\ndata: hello\n\n"},
		{"message name left out", "1-2", "message", "hello", 0, "id: 1-2\ndata: hello\n\n"},
		{"named event", "1-3", "order-created", "{}", 0, "id: 1-3\nevent: order-created\ndata: {}\n\n"},
		{"no id", "", "connected", "x", 0, "event: connected\ndata: x\n\n"},
		{"retry in ms", "a-1", "", "x", 2500 * time.Millisecond, "id: a-1\nretry: 2500\ndata: x\n\n"},
		{"retry truncated to ms", "a-1", "", "x", 1500*time.Microsecond + 2*time.Second, "id: a-1\nretry: 2001\ndata: x\n\n"},
		{"empty data is one data line", "a-1", "", "", 0, "id: a-1\ndata: \n\n"},
		{"LF splits", "", "", "a\nb", 0, "data: a\ndata: b\n\n"},
		{"CR splits", "", "", "a\rb", 0, "data: a\ndata: b\n\n"},
		{"CRLF is one break", "", "", "a\r\nb", 0, "data: a\ndata: b\n\n"},
		{"mixed breaks", "", "", "a\r\nb\rc\nd", 0, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"LF CR is two breaks", "", "", "a\n\rb", 0, "data: a\ndata: \ndata: b\n\n"},
		{"trailing LF", "", "", "a\n", 0, "data: a\ndata: \n\n"},
		{"trailing CR", "", "", "a\r", 0, "data: a\ndata: \n\n"},
		{"trailing CRLF", "", "", "a\r\n", 0, "data: a\ndata: \n\n"},
		{"only a break", "", "", "\n", 0, "data: \ndata: \n\n"},
		{"blank line inside", "", "", "a\n\nb", 0, "data: a\ndata: \ndata: b\n\n"},
		{"field lookalike stays data", "", "", "x\nid: evil\n\nevent: evil", 0, "data: x\ndata: id: evil\ndata: \ndata: event: evil\n\n"},
		{"leading space kept", "", "", " indented", 0, "data:  indented\n\n"},
		{"all fields", "e-9", "up", "1\n2", time.Second, "id: e-9\nevent: up\nretry: 1000\ndata: 1\ndata: 2\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendEvent(nil, tt.id, tt.event, tt.data, tt.retry))
			if got != tt.want {
				t.Fatalf("appendEvent(%q, %q, %q, %v)\n got %q\nwant %q", tt.id, tt.event, tt.data, tt.retry, got, tt.want)
			}
			// Wire makes the encoding in one allocation of this bound.
			if bound := encodedLen(tt.id, tt.event, tt.data, tt.retry); len(got) > bound {
				t.Fatalf("encoding is %d bytes, encodedLen bounds it at %d", len(got), bound)
			}
			// Appending keeps what the buffer held.
			prefix := "data: before\n\n"
			if got := string(AppendEvent([]byte(prefix), tt.id, tt.event, tt.data, tt.retry)); got != prefix+tt.want {
				t.Fatalf("appending to a buffer: got %q", got)
			}
			// And a client reads back the data with its breaks as LF.
			s := ssetest.Parse(tt.want)
			if len(s.Events) != 1 || s.Events[0].Data != ssetest.Normalize(tt.data) {
				t.Fatalf("client reads %+v, want data %q", s.Events, ssetest.Normalize(tt.data))
			}
		})
	}
}

// TestEncodedLenBounds covers what TestAppendEvent's short cases leave
// room for: the longest retry, and data that is mostly line breaks.
func TestEncodedLenBounds(t *testing.T) {
	for _, tc := range []struct {
		data  string
		retry time.Duration
	}{
		{"x", time.Millisecond},
		{"x", time.Duration(math.MaxInt64)},
		{strings.Repeat("\n", 100), 0},
		{strings.Repeat("\r", 100), 0},
		{strings.Repeat("\r\n", 100), 0},
		{strings.Repeat("\n\r", 100), time.Second},
	} {
		got := AppendEvent(nil, "e-1", "up", tc.data, tc.retry)
		if bound := encodedLen("e-1", "up", tc.data, tc.retry); len(got) > bound {
			t.Errorf("data %q, retry %v: encoding is %d bytes, encodedLen bounds it at %d", tc.data, tc.retry, len(got), bound)
		}
	}
}

func TestEventWire(t *testing.T) {
	e := &Event{ID: "k3-7", Topics: []string{"a"}, Name: "tick", Data: "one\r\ntwo", Retry: 3 * time.Second}
	want := "id: k3-7\nevent: tick\nretry: 3000\ndata: one\ndata: two\n\n"
	if got := string(e.Wire()); got != want {
		t.Fatalf("Wire() = %q, want %q", got, want)
	}
	// The encoding is computed once and shared by every subscriber.
	w1, w2 := e.Wire(), e.Wire()
	if &w1[0] != &w2[0] {
		t.Fatal("Wire() encoded the event again instead of reusing its encoding")
	}
}

func TestEventValidate(t *testing.T) {
	const max = 2048 // room for a topic or name at its longest
	many := make([]string, MaxTopics+1)
	for i := range many {
		many[i] = "t" + strconv.Itoa(i)
	}
	tests := []struct {
		name    string
		e       Event
		wantErr string // "" means valid
	}{
		{"topic only", Event{Topics: []string{"a"}}, ""},
		{"connection only", Event{Connection: "c1"}, ""},
		{"all fields", Event{Topics: []string{"a", "b/c"}, Name: "n", Data: "d\nd", Retry: time.Second, Connection: "c", Exclude: "x"}, ""},
		{"message name", Event{Topics: []string{"a"}, Name: "message"}, ""},
		{"data at max", Event{Topics: []string{"a"}, Data: strings.Repeat("x", max-len("data: \n\n")-len("a"))}, ""},
		{"multibyte data", Event{Topics: []string{"a"}, Data: "héllo 🎉"}, ""},
		{"NUL in data is fine", Event{Topics: []string{"a"}, Data: "a\x00b"}, ""},
		{"max topics", Event{Topics: many[:MaxTopics]}, ""},
		{"topic at max length", Event{Topics: []string{strings.Repeat("t", MaxTopicLen)}}, ""},
		{"name at max length", Event{Topics: []string{"a"}, Name: strings.Repeat("n", MaxNameLen)}, ""},
		{"zero retry", Event{Topics: []string{"a"}, Retry: 0}, ""},

		{"no topic", Event{Data: "x"}, "no topic"},
		{"empty topic list", Event{Topics: []string{}}, "no topic"},
		{"too many topics", Event{Topics: many}, "too many topics"},
		{"empty topic", Event{Topics: []string{"a", ""}}, "topic is empty"},
		{"topic too long", Event{Topics: []string{strings.Repeat("t", MaxTopicLen+1)}}, "longer than"},
		{"CR in topic", Event{Topics: []string{"a\rb"}}, "CR, LF or NUL"},
		{"LF in topic", Event{Topics: []string{"a\nb"}}, "CR, LF or NUL"},
		{"NUL in topic", Event{Topics: []string{"a\x00b"}}, "CR, LF or NUL"},
		{"invalid UTF-8 topic", Event{Topics: []string{"a\xffb"}}, "UTF-8"},
		{"prefix selector as topic", Event{Topics: []string{"news/*"}}, "selector"},
		{"wildcard as topic", Event{Topics: []string{"*"}}, "selector"},
		{"CR in name", Event{Topics: []string{"a"}, Name: "x\r"}, "CR, LF or NUL"},
		{"LF in name", Event{Topics: []string{"a"}, Name: "x\nid: 1"}, "CR, LF or NUL"},
		{"NUL in name", Event{Topics: []string{"a"}, Name: "x\x00"}, "CR, LF or NUL"},
		{"name too long", Event{Topics: []string{"a"}, Name: strings.Repeat("n", MaxNameLen+1)}, "longer than"},
		{"invalid UTF-8 name", Event{Topics: []string{"a"}, Name: "\xc3"}, "UTF-8"},
		{"CR in connection", Event{Connection: "c\r"}, "CR, LF or NUL"},
		{"LF in connection", Event{Topics: []string{"a"}, Connection: "c\n"}, "CR, LF or NUL"},
		{"NUL in connection", Event{Topics: []string{"a"}, Connection: "\x00"}, "CR, LF or NUL"},
		{"connection too long", Event{Connection: strings.Repeat("c", MaxNameLen+1)}, "longer than"},
		{"CR in exclude", Event{Topics: []string{"a"}, Exclude: "\rx"}, "CR, LF or NUL"},
		{"LF in exclude", Event{Topics: []string{"a"}, Exclude: "x\n"}, "CR, LF or NUL"},
		{"NUL in exclude", Event{Topics: []string{"a"}, Exclude: "x\x00"}, "CR, LF or NUL"},
		{"invalid UTF-8 data", Event{Topics: []string{"a"}, Data: "ok\xff"}, "UTF-8"},
		{"data over max", Event{Topics: []string{"a"}, Data: strings.Repeat("x", max+1)}, "over max_event_size"},
		{"negative retry", Event{Topics: []string{"a"}, Retry: -time.Millisecond}, "negative"},
	}
	for i := range tests {
		tt := &tests[i] // an Event must not be copied
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Validate(max)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestEventValidateTooLarge(t *testing.T) {
	e := Event{Topics: []string{"a"}, Data: strings.Repeat("x", 11)}
	err := e.Validate(10)
	var tl ErrTooLarge
	if !errors.As(err, &tl) {
		t.Fatalf("Validate() = %v, want an errTooLarge", err)
	}
	// "data: " + 11 bytes + "\n", the blank line, and the topic.
	if tl.size != 20 || tl.max != 10 {
		t.Fatalf("errTooLarge = %+v, want size 20, max 10", tl)
	}
	// Other errors are not mistaken for a size problem (which maps to 413).
	bad := Event{Data: "x"}
	if errors.As(bad.Validate(10), new(ErrTooLarge)) {
		t.Fatal("a missing topic was reported as too large")
	}
}

// TestEventSizeCountsTheEncoding: max_event_size bounds what an event costs
// on the wire and in the history, not only the length of its data.
func TestEventSizeCountsTheEncoding(t *testing.T) {
	topics := make([]string, MaxTopics)
	for i := range topics {
		topics[i] = fmt.Sprintf("%04d", i) + strings.Repeat("t", MaxTopicLen-4)
	}
	tests := []struct {
		name string
		e    Event
		want int
	}{
		{"one line", Event{Topics: []string{"a"}, Data: "hello"}, len("data: hello\n\n") + 1},
		{"empty data", Event{Topics: []string{"ab"}}, len("data: \n\n") + 2},
		{"named", Event{Topics: []string{"a"}, Name: "up", Data: "x"}, len("event: up\ndata: x\n\n") + 1},
		{"message is not named on the wire", Event{Topics: []string{"a"}, Name: "message", Data: "x"}, len("data: x\n\n") + 1},
		{"retry", Event{Topics: []string{"a"}, Retry: 1500 * time.Millisecond, Data: "x"}, len("retry: 1500\ndata: x\n\n") + 1},
		{"CRLF is one line break", Event{Topics: []string{"a"}, Data: "a\r\nb"}, len("data: a\ndata: b\n\n") + 1},
		{"newline-only data grows sevenfold", Event{Topics: []string{"a"}, Data: strings.Repeat("\n", 1000)}, 1001*7 + 1 + 1},
		{"topics count", Event{Topics: topics, Data: "x"}, len("data: x\n\n") + MaxTopics*MaxTopicLen},
		{"connection only", Event{Connection: "c1", Data: "x"}, len("data: x\n\n")},
	}
	for i := range tests {
		tt := &tests[i]
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.size(); got != tt.want {
				t.Fatalf("size() = %d, want %d", got, tt.want)
			}
			if err := tt.e.Validate(tt.want); err != nil {
				t.Fatalf("Validate(%d) = %v, want the event to fit exactly", tt.want, err)
			}
			err := tt.e.Validate(tt.want - 1)
			var tl ErrTooLarge
			if !errors.As(err, &tl) || tl.size != tt.want {
				t.Fatalf("Validate(%d) = %v, want errTooLarge of size %d", tt.want-1, err, tt.want)
			}
		})
	}
}

func FuzzEncodeEvent(f *testing.F) {
	seeds := []struct{ id, name, data string }{
		{"1-1", "", ""},
		{"1-2", "message", "hello"},
		{"lq0x-3", "update", "a\r\nb\rc\nd"},
		{"1-4", "x", "\n"},
		{"1-5", "x", "\r"},
		{"1-6", "x", "\r\r\n\n\r"},
		{"", "ev", "data: injected\n\nevent: evil\rid: 9\r\n"},
		{"a:b", "name: with colon", " leading space"},
		{"é-1", "ünï", "émoji 🎉\x00nul"},
		{" 1", " spaced", "  two spaces"},
		{"1-7", "x", "\uFEFFbom"},
		{"1-8", ":comment", ":not a comment"},
	}
	for _, s := range seeds {
		f.Add(s.id, s.name, s.data)
	}
	f.Fuzz(func(t *testing.T, id, name, data string) {
		if id != "" && CheckField("id", id, MaxNameLen) != nil {
			return
		}
		if name != "" && CheckField("event name", name, MaxNameLen) != nil {
			return
		}
		if !utf8.ValidString(data) {
			return // Validate refuses such data before it is encoded
		}
		wire := string(AppendEvent(nil, id, name, data, 0))
		if !utf8.ValidString(wire) {
			t.Fatalf("encoding of valid UTF-8 is not valid UTF-8: %q", wire)
		}
		if bad, ok := ssetest.FieldsOnly(wire); !ok {
			t.Fatalf("encoding has a line %q that is not an allowed field:\n%q", bad, wire)
		}
		if !strings.HasSuffix(wire, "\n\n") {
			t.Fatalf("encoding does not end with a blank line: %q", wire)
		}
		got := ssetest.Parse(wire)
		if got.Partial != "" {
			t.Fatalf("encoding ends inside a line: %q", wire)
		}
		if len(got.Events) != 1 {
			t.Fatalf("a client reads %d events from %q, want 1: %+v", len(got.Events), wire, got.Events)
		}
		ev := got.Events[0]
		wantType := name
		if wantType == "" {
			wantType = "message"
		}
		if ev.Type != wantType {
			t.Errorf("event type = %q, want %q", ev.Type, wantType)
		}
		if want := ssetest.Normalize(data); ev.Data != want {
			t.Errorf("data = %q, want %q", ev.Data, want)
		}
		if ev.LastEventID != id {
			t.Errorf("last event id = %q, want %q", ev.LastEventID, id)
		}
		if got.Retry != -1 {
			t.Errorf("a retry of %d ms was read from an event without one", got.Retry)
		}
		if n := framedSize(name, data, 0); n != len(AppendEvent(nil, "", name, data, 0)) {
			t.Errorf("framedSize = %d, encoding without id is %d bytes", n, len(AppendEvent(nil, "", name, data, 0)))
		}
		e := &Event{ID: id, Name: name, Data: data}
		if w := string(e.Wire()); w != wire {
			t.Errorf("Wire() = %q, appendEvent = %q", w, wire)
		}
	})
}

func BenchmarkEncodeEvent(b *testing.B) {
	data := strings.Repeat("x", 99) + "\n" + strings.Repeat("y", 100)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		buf = AppendEvent(buf[:0], "m3kq9z1a-123456", "update", data, 0)
	}
	if len(buf) == 0 {
		b.Fatal("nothing encoded")
	}
}
