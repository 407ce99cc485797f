package caddysse

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/ssetest"
)

const (
	pubJSON = "application/json"
	pubForm = "application/x-www-form-urlencoded"
)

// pubStatus is the HTTP status a decodePublish error is answered with, or 0
// when it is not an httpError.
func pubStatus(err error) int {
	var he httpError
	if errors.As(err, &he) {
		return he.status
	}
	return 0
}

// pubWant is the part of a decoded event a publisher controls.
type pubWant struct {
	Topics     []string
	Name       string
	Data       string
	Retry      time.Duration
	Connection string
	Exclude    string
}

func pubGot(e *hub.Event) pubWant {
	return pubWant{Topics: e.Topics, Name: e.Name, Data: e.Data, Retry: e.Retry, Connection: e.Connection, Exclude: e.Exclude}
}

func pubEqual(a, b pubWant) bool {
	ta, tb := slices.Clone(a.Topics), slices.Clone(b.Topics)
	slices.Sort(ta)
	slices.Sort(tb)
	return slices.Equal(ta, tb) && a.Name == b.Name && a.Data == b.Data && a.Retry == b.Retry &&
		a.Connection == b.Connection && a.Exclude == b.Exclude
}

func TestDecodePublish(t *testing.T) {
	tests := []struct {
		name  string
		ct    string
		body  string
		want  []pubWant
		batch bool
	}{
		{"json object", pubJSON, `{"topic":"orders","event":"order-created","data":"hello"}`,
			[]pubWant{{Topics: []string{"orders"}, Name: "order-created", Data: "hello"}}, false},
		{"json with surrounding space", pubJSON, " \n {\"topic\":\"a\",\"data\":\"x\"}\n",
			[]pubWant{{Topics: []string{"a"}, Data: "x"}}, false},
		{"type alias", pubJSON, `{"topic":"a","type":"t1"}`, []pubWant{{Topics: []string{"a"}, Name: "t1"}}, false},
		{"eventType alias", pubJSON, `{"topic":"a","eventType":"t2"}`, []pubWant{{Topics: []string{"a"}, Name: "t2"}}, false},
		{"aliases that agree", pubJSON, `{"topic":"a","event":"t","type":"t","eventType":"t"}`,
			[]pubWant{{Topics: []string{"a"}, Name: "t"}}, false},
		{"message alias", pubJSON, `{"topic":"a","message":"hi"}`, []pubWant{{Topics: []string{"a"}, Data: "hi"}}, false},
		{"string data as is", pubJSON, `{"topic":"a","data":"{\"a\": 1}"}`, []pubWant{{Topics: []string{"a"}, Data: `{"a": 1}`}}, false},
		{"string data with breaks", pubJSON, `{"topic":"a","data":"l1\nl2\r\nl3"}`, []pubWant{{Topics: []string{"a"}, Data: "l1\nl2\r\nl3"}}, false},
		{"escaped string data", pubJSON, `{"topic":"a","data":"caf\u00e9 \"q\""}`, []pubWant{{Topics: []string{"a"}, Data: `café "q"`}}, false},
		{"object data compacted", pubJSON, `{"topic":"a","data":{"a": 1, "b" : [ 1, 2 ]}}`,
			[]pubWant{{Topics: []string{"a"}, Data: `{"a":1,"b":[1,2]}`}}, false},
		{"multi-line object data compacted", pubJSON, "{\"topic\":\"a\",\"data\":{\n  \"a\": 1\n}}",
			[]pubWant{{Topics: []string{"a"}, Data: `{"a":1}`}}, false},
		{"number data", pubJSON, `{"topic":"a","data":42}`, []pubWant{{Topics: []string{"a"}, Data: "42"}}, false},
		{"number text kept", pubJSON, `{"topic":"a","data":1.50e3}`, []pubWant{{Topics: []string{"a"}, Data: "1.50e3"}}, false},
		{"null data", pubJSON, `{"topic":"a","data":null}`, []pubWant{{Topics: []string{"a"}, Data: "null"}}, false},
		{"bool data", pubJSON, `{"topic":"a","data":true}`, []pubWant{{Topics: []string{"a"}, Data: "true"}}, false},
		{"array data", pubJSON, `{"topic":"a","data":[1, "two", {"x" : null}]}`,
			[]pubWant{{Topics: []string{"a"}, Data: `[1,"two",{"x":null}]`}}, false},
		{"object message", pubJSON, `{"topic":"a","message":{"k": "v"}}`, []pubWant{{Topics: []string{"a"}, Data: `{"k":"v"}`}}, false},
		{"missing data", pubJSON, `{"topic":"a","event":"ping"}`, []pubWant{{Topics: []string{"a"}, Name: "ping", Data: ""}}, false},
		{"empty string data", pubJSON, `{"topic":"a","data":""}`, []pubWant{{Topics: []string{"a"}, Data: ""}}, false},
		{"topics list", pubJSON, `{"topics":["x","y"]}`, []pubWant{{Topics: []string{"x", "y"}}}, false},
		{"topic and topics merged without duplicates", pubJSON, `{"topic":"b","topics":["a","b","c","a"]}`,
			[]pubWant{{Topics: []string{"a", "b", "c"}}}, false},
		{"connection only", pubJSON, `{"connection":"abc","data":"x"}`, []pubWant{{Data: "x", Connection: "abc"}}, false},
		{"connection and exclude", pubJSON, `{"topic":"a","connection":"c1","exclude":"c2"}`,
			[]pubWant{{Topics: []string{"a"}, Connection: "c1", Exclude: "c2"}}, false},
		{"retry in ms", pubJSON, `{"topic":"a","retry":3000}`, []pubWant{{Topics: []string{"a"}, Retry: 3 * time.Second}}, false},
		{"zero retry", pubJSON, `{"topic":"a","retry":0}`, []pubWant{{Topics: []string{"a"}}}, false},
		{"array", pubJSON, `[{"topic":"a","data":"1"},{"topics":["b"],"event":"e","data":{"n":2}}]`,
			[]pubWant{{Topics: []string{"a"}, Data: "1"}, {Topics: []string{"b"}, Name: "e", Data: `{"n":2}`}}, true},
		{"array of one", pubJSON, ` [{"topic":"a"}]`, []pubWant{{Topics: []string{"a"}}}, true},
		{"form", pubForm, "topic=a&topic=b&event=e&data=line1%0Aline2&retry=1500&connection=c1&exclude=c2",
			[]pubWant{{Topics: []string{"a", "b"}, Name: "e", Data: "line1\nline2", Retry: 1500 * time.Millisecond, Connection: "c1", Exclude: "c2"}}, false},
		{"form type alias", pubForm, "topic=a&type=t&data=x", []pubWant{{Topics: []string{"a"}, Name: "t", Data: "x"}}, false},
		{"form duplicate topics", pubForm, "topic=a&topic=a", []pubWant{{Topics: []string{"a"}}}, false},
		{"form plus encoding", pubForm, "topic=a&data=hello+world%21", []pubWant{{Topics: []string{"a"}, Data: "hello world!"}}, false},
		{"form no data", pubForm, "topic=a", []pubWant{{Topics: []string{"a"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, batch, err := decodePublish(tt.ct, []byte(tt.body), 1024)
			if err != nil {
				t.Fatalf("decodePublish(%q) = %v", tt.body, err)
			}
			if batch != tt.batch {
				t.Errorf("batch = %v, want %v", batch, tt.batch)
			}
			if len(events) != len(tt.want) {
				t.Fatalf("%d events, want %d", len(events), len(tt.want))
			}
			for i, e := range events {
				if got := pubGot(e); !pubEqual(got, tt.want[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got, tt.want[i])
				}
				if e.ID != "" {
					t.Errorf("event %d has id %q before it was stored", i, e.ID)
				}
			}
		})
	}
}

func TestDecodePublishErrors(t *testing.T) {
	many := make([]string, hub.MaxTopics+1)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprint("t", i))
	}
	bigBatch := "[" + strings.Repeat(`{"topic":"a"},`, maxBatch) + `{"topic":"a"}]`
	tests := []struct {
		name    string
		ct      string
		body    string
		status  int
		errHas  string
		maxData int // 0 means 1024
	}{
		{"malformed JSON", pubJSON, `{"topic":`, 400, "malformed", 0},
		{"not JSON", pubJSON, `topic=a`, 400, "malformed", 0},
		{"empty JSON body", pubJSON, ``, 400, "malformed", 0},
		{"JSON string body", pubJSON, `"a"`, 400, "malformed", 0},
		{"null body", pubJSON, `null`, 400, "no topic", 0},
		{"wrong field type", pubJSON, `{"topic":1}`, 400, "malformed", 0},
		{"unknown field", pubJSON, `{"topic":"a","dat":"x"}`, 400, "dat", 0},
		{"unknown field in array", pubJSON, `[{"topic":"a","topic_":"b"}]`, 400, "topic_", 0},
		{"second value", pubJSON, `{"topic":"a"}{"topic":"b"}`, 400, "after the first value", 0},
		{"trailing word", pubJSON, `{"topic":"a"} x`, 400, "", 0},
		{"trailing array", pubJSON, `[{"topic":"a"}] [{"topic":"b"}]`, 400, "", 0},
		{"empty array", pubJSON, `[]`, 400, "empty array", 0},
		{"too many in a batch", pubJSON, bigBatch, 400, "at most", 0},
		{"no topic", pubJSON, `{"data":"x"}`, 400, "no topic", 0},
		{"empty topic", pubJSON, `{"topic":""}`, 400, "no topic", 0},
		{"empty topics", pubJSON, `{"topics":[]}`, 400, "no topic", 0},
		{"empty entry in topics", pubJSON, `{"topics":["a",""]}`, 400, "empty", 0},
		{"too many topics", pubJSON, `{"topics":[` + strings.Join(many, ",") + `]}`, 400, "too many topics", 0},
		{"selector as topic", pubJSON, `{"topic":"news/*"}`, 400, "selector", 0},
		{"conflicting event aliases", pubJSON, `{"topic":"a","event":"x","type":"y"}`, 400, "disagree", 0},
		{"conflicting eventType", pubJSON, `{"topic":"a","event":"x","eventType":"z"}`, 400, "disagree", 0},
		{"data and message", pubJSON, `{"topic":"a","data":"x","message":"y"}`, 400, "both data and message", 0},
		{"LF in event name", pubJSON, `{"topic":"a","event":"x\ndata: evil"}`, 400, "event name", 0},
		{"CR in event name", pubJSON, `{"topic":"a","event":"x\r"}`, 400, "event name", 0},
		{"NUL in event name", pubJSON, `{"topic":"a","event":"x\u0000"}`, 400, "event name", 0},
		{"LF in topic", pubJSON, `{"topic":"a\nb"}`, 400, "topic", 0},
		{"CR in topic", pubJSON, `{"topics":["a\rb"]}`, 400, "topic", 0},
		{"NUL in topic", pubJSON, `{"topic":"a\u0000"}`, 400, "topic", 0},
		{"LF in connection", pubJSON, `{"connection":"c\n"}`, 400, "connection", 0},
		{"CR in connection", pubJSON, `{"topic":"a","connection":"\rc"}`, 400, "connection", 0},
		{"NUL in exclude", pubJSON, `{"topic":"a","exclude":"c\u0000"}`, 400, "exclude", 0},
		{"invalid UTF-8 in JSON data value", pubJSON, "{\"topic\":\"a\",\"data\":{\"k\":\"\xff\"}}", 400, "UTF-8", 0},
		{"negative retry", pubJSON, `{"topic":"a","retry":-1}`, 400, "want milliseconds from 0", 0},
		{"fractional retry", pubJSON, `{"topic":"a","retry":1.5}`, 400, "malformed", 0},
		{"data over max", pubJSON, `{"topic":"a","data":"123456789"}`, 413, "max_event_size", 8},
		{"JSON data over max", pubJSON, `{"topic":"a","data":[1,2,3,4,5]}`, 413, "max_event_size", 8},
		{"message over max", pubJSON, `{"topic":"a","message":"123456789"}`, 413, "max_event_size", 8},
		{"array entry over max", pubJSON, `[{"topic":"a","data":"ok"},{"topic":"a","data":"123456789"}]`, 413, "event 1", 16},
		{"array entry invalid", pubJSON, `[{"topic":"a"},{"topic":"a"},{"data":"x"}]`, 400, "event 2", 0},
		{"array entry with conflicting aliases", pubJSON, `[{"topic":"a"},{"topic":"a","type":"x","event":"y"}]`, 400, "event 1", 0},
		{"missing Content-Type", "", `{"topic":"a"}`, 415, "Content-Type", 0},
		{"text/plain", "text/plain", `{"topic":"a"}`, 415, "text/plain", 0},
		{"multipart", "multipart/form-data", `topic=a`, 415, "", 0},
		{"form no topic", pubForm, "data=x", 400, "no topic", 0},
		{"form bad retry", pubForm, "topic=a&retry=soon", 400, "retry", 0},
		{"form negative retry", pubForm, "topic=a&retry=-5", 400, "retry", 0},
		{"form fractional retry", pubForm, "topic=a&retry=1.5", 400, "retry", 0},
		{"form huge retry", pubForm, "topic=a&retry=99999999999", 400, "retry", 0},
		{"form bad escape", pubForm, "topic=a&data=%zz", 400, "malformed form", 0},
		{"form conflicting event and type", pubForm, "topic=a&event=x&type=y", 400, "disagree", 0},
		{"form unknown field", pubForm, "topic=a&data=x&private=on", 400, `unknown form field "private"`, 0},
		{"form misspelt field", pubForm, "topic=a&dta=x", 400, `unknown form field "dta"`, 0},
		{"form id field", pubForm, "topic=a&id=5", 400, `unknown form field "id"`, 0},
		{"form data twice", pubForm, "topic=a&data=x&data=y", 400, `"data" is given 2 times`, 0},
		{"form LF in event", pubForm, "topic=a&event=x%0Aid:%201", 400, "event name", 0},
		{"form CR in topic", pubForm, "topic=a%0D", 400, "topic", 0},
		{"form NUL in connection", pubForm, "topic=a&connection=c%00", 400, "connection", 0},
		{"form invalid UTF-8 data", pubForm, "topic=a&data=%FF", 400, "UTF-8", 0},
		{"form invalid UTF-8 topic", pubForm, "topic=%C3", 400, "UTF-8", 0},
		{"form data over max", pubForm, "topic=a&data=123456789", 413, "max_event_size", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.maxData
			if max == 0 {
				max = 1024
			}
			events, _, err := decodePublish(tt.ct, []byte(tt.body), max)
			if err == nil {
				t.Fatalf("decodePublish(%q, %q) accepted %d events, want status %d", tt.ct, tt.body, len(events), tt.status)
			}
			if events != nil {
				t.Errorf("events returned with an error")
			}
			if got := pubStatus(err); got != tt.status {
				t.Errorf("status %d (%v), want %d", got, err, tt.status)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not say %q", err, tt.errHas)
			}
		})
	}
}

// The design answers invalid UTF-8 with 400; encoding/json instead turns
// invalid bytes inside JSON strings into U+FFFD, so they get through.
func TestDecodePublishInvalidUTF8JSONString(t *testing.T) {
	for _, body := range []string{
		"{\"topic\":\"a\",\"data\":\"\xff\"}",
		"{\"topic\":\"a\xff\"}",
		"{\"topic\":\"a\",\"event\":\"e\xc3\"}",
	} {
		events, _, err := decodePublish(pubJSON, []byte(body), 1024)
		if pubStatus(err) != http.StatusBadRequest {
			t.Errorf("decodePublish(%q) = %d events, err %v; want 400", body, len(events), err)
		}
	}
}

// A closing bracket or brace after the value is trailing data too.
func TestDecodePublishTrailingCloser(t *testing.T) {
	for _, body := range []string{`{"topic":"a"}]`, `{"topic":"a"}}`, `[{"topic":"a"}]]`, `[{"topic":"a"}]}`} {
		events, _, err := decodePublish(pubJSON, []byte(body), 1024)
		if pubStatus(err) != http.StatusBadRequest {
			t.Errorf("decodePublish(%q) = %d events, err %v; want 400", body, len(events), err)
		}
	}
}

// A JSON retry is milliseconds; a value whose nanoseconds do not fit a
// time.Duration must be refused (as the form does above 2^31-1 ms), not
// wrapped around into another delay.
func TestDecodePublishRetryOverflow(t *testing.T) {
	for _, ms := range []string{"18446744073710", "9223372036855", "9223372036854775807"} {
		body := `{"topic":"a","retry":` + ms + `}`
		events, _, err := decodePublish(pubJSON, []byte(body), 1024)
		if err == nil {
			if got := fmt.Sprint(events[0].Retry.Milliseconds()); got != ms {
				t.Errorf("retry %s accepted as %s ms", ms, got)
			}
			continue
		}
		if pubStatus(err) != http.StatusBadRequest || strings.Contains(err.Error(), "negative") {
			t.Errorf("retry %s: %v (status %d); want a 400 that says it is too large", ms, err, pubStatus(err))
		}
	}
}

func FuzzDecodePublish(f *testing.F) {
	contentTypes := []string{pubJSON, pubForm, "", "text/plain"}
	seeds := []struct {
		ct   uint8
		body string
	}{
		{0, `{"topic":"orders","event":"order-created","data":"hello"}`},
		{0, `{"topic":"a","type":"t","message":{"a": [1, 2.5, null]},"retry":100}`},
		{0, `[{"topic":"a","data":"1"},{"topics":["b","c"],"eventType":"e","data":"x\r\ny"}]`},
		{0, `{"connection":"c1","exclude":"c2","data":"line\rline"}`},
		{0, `{"topic":"a","event":"x\ndata: evil"}`},
		{0, `{"topic":"a","data":"123456789012345678901234567890123456789012345678901234567890123456789"}`},
		{0, `[]`},
		{0, `{"topic":"a"} x`},
		{0, "{\"topic\":\"a\",\"data\":\"\xff\"}"},
		{1, "topic=a&topic=b&event=e&data=line1%0D%0Aline2&retry=1500"},
		{1, "topic=a&data=%FF"},
		{1, "topic=a&type=x&event=y"},
		{1, "topic=a&event=%0Aid:1"},
		{2, `{"topic":"a"}`},
		{3, `topic=a`},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	const maxData = 64
	f.Fuzz(func(t *testing.T, ct uint8, body []byte) {
		contentType := contentTypes[int(ct)%len(contentTypes)]
		events, batch, err := decodePublish(contentType, body, maxData)
		if err != nil {
			switch st := pubStatus(err); st {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			default:
				t.Fatalf("error %q has status %d, want 400, 413 or 415", err, st)
			}
			if events != nil {
				t.Fatalf("events returned with error %v", err)
			}
			return
		}
		if len(events) == 0 {
			t.Fatal("success without events")
		}
		if batch && contentType != pubJSON {
			t.Fatalf("a %s body decoded as a batch", contentType)
		}
		for i, e := range events {
			if err := e.Validate(maxData); err != nil {
				t.Fatalf("event %d is accepted but invalid: %v", i, err)
			}
			if len(e.Topics) == 0 && e.Connection == "" {
				t.Fatalf("event %d has neither topic nor connection", i)
			}
			if !slices.IsSorted(e.Topics) || len(slices.Compact(slices.Clone(e.Topics))) != len(e.Topics) {
				t.Fatalf("event %d topics %q have duplicates", i, e.Topics)
			}
			e.ID = "e-1"
			wire := string(e.Wire())
			if bad, ok := ssetest.FieldsOnly(wire); !ok {
				t.Fatalf("event %d encodes a line %q that is not an allowed field:\n%q", i, bad, wire)
			}
			got := ssetest.Parse(wire)
			if len(got.Events) != 1 {
				t.Fatalf("event %d reads back as %d events: %q", i, len(got.Events), wire)
			}
			wantType := e.Name
			if wantType == "" {
				wantType = "message"
			}
			ev := got.Events[0]
			if ev.Type != wantType || ev.Data != ssetest.Normalize(e.Data) || ev.LastEventID != "e-1" {
				t.Fatalf("event %d reads back as %+v from %q", i, ev, wire)
			}
		}
	})
}

// TestWriteAcks holds the hand-written ack to what encoding/json makes of
// publishResult, for one event and a batch, with ids that need escaping.
func TestWriteAcks(t *testing.T) {
	ids := []string{"mx0abcd-1", `a"b\c`, "<&>", "é", "\x01", "\xff"}
	var events []*hub.Event
	var results []publishResult
	for i, id := range ids {
		e := &hub.Event{ID: id}
		e.Repeat(hub.Ack{ID: id, Subscribers: i * 1000})
		events = append(events, e)
		results = append(results, publishResult{ID: id, Subscribers: i * 1000})
	}
	check := func(name string, events []*hub.Event, batch bool, v any) {
		t.Helper()
		w := httptest.NewRecorder()
		writeAcks(w, events, batch)
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Body.String(); got != string(want)+"\n" || w.Code != http.StatusOK {
			t.Errorf("%s: answered %d %q, encoding/json says %q", name, w.Code, got, want)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
	}
	for i := range events {
		check(fmt.Sprintf("event %q", ids[i]), events[i:i+1], false, results[i])
	}
	check("batch", events, true, results)
	check("batch of one", events[:1], true, results[:1])
}

// TestReadBody covers the two ways a body is read: at once when its
// length is announced, as it arrives when it is chunked.
func TestReadBody(t *testing.T) {
	const limit = 16
	for _, tc := range []struct {
		name   string
		body   string
		length int64 // -1: chunked
		status int   // 0: read
	}{
		{"announced", "0123456789", 10, 0},
		{"announced empty", "", 0, 0},
		{"announced at the limit", "0123456789abcdef", limit, 0},
		{"announced over the limit", "0123456789abcdefg", limit + 1, http.StatusRequestEntityTooLarge},
		{"announced, cut short", "01234", 10, http.StatusBadRequest},
		{"chunked", "0123456789", -1, 0},
		{"chunked at the limit", "0123456789abcdef", -1, 0},
		{"chunked over the limit", "0123456789abcdefg", -1, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/publish", io.NopCloser(strings.NewReader(tc.body)))
			r.ContentLength = tc.length
			got, err := readBody(httptest.NewRecorder(), r, limit)
			if tc.status != 0 {
				if pubStatus(err) != tc.status {
					t.Fatalf("got %q, %v; want a %d", got, err, tc.status)
				}
				if tc.status == http.StatusRequestEntityTooLarge && err.Error() != "request body is over 16 bytes" {
					t.Fatalf("error %q", err)
				}
				return
			}
			if err != nil || string(got) != tc.body {
				t.Fatalf("got %q, %v; want %q", got, err, tc.body)
			}
		})
	}
	// An announced body larger than bodyPrealloc is read as it arrives,
	// and held to the limit all the same.
	large := strings.Repeat("x", bodyPrealloc+1)
	for _, tc := range []struct {
		limit  int
		status int
	}{{2 * bodyPrealloc, 0}, {bodyPrealloc, http.StatusRequestEntityTooLarge}} {
		r := httptest.NewRequest(http.MethodPost, "/publish", strings.NewReader(large))
		got, err := readBody(httptest.NewRecorder(), r, tc.limit)
		if pubStatus(err) != tc.status || (err == nil && string(got) != large) {
			t.Errorf("limit %d: read %d bytes, %v; want status %d", tc.limit, len(got), err, tc.status)
		}
	}
}

func BenchmarkDecodePublishJSON(b *testing.B) {
	body := []byte(`{"topic":"orders/42","event":"order-updated","data":{"id":42,"status":"shipped","items":[{"sku":"A-1","qty":2}]}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		events, _, err := decodePublish(pubJSON, body, 64<<10)
		if err != nil || len(events) != 1 {
			b.Fatalf("decodePublish: %v", err)
		}
	}
}
