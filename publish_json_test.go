package caddysse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caddy-sse/caddy-sse/hub"
)

func TestDecodeJSONEvents(t *testing.T) {
	deep := func(open int) string {
		return `{"topic":"a","data":` + strings.Repeat("[", open) + strings.Repeat("]", open) + `}`
	}
	tests := []struct {
		name   string
		body   string
		want   []jsonEvent // nil: refused
		batch  bool
		errHas string // for a refusal
	}{
		{name: "all fields",
			body: `{"topic":"a","topics":["b","c"],"event":"e","type":"t","eventType":"et","data":"d","retry":5,"connection":"c1","exclude":"c2"}`,
			want: []jsonEvent{{Topic: "a", Topics: []string{"b", "c"}, Event: "e", Type: "t", EventType: "et",
				Data: "d", HasData: true, Retry: 5, HasRetry: true, Connection: "c1", Exclude: "c2"}}},
		{name: "message", body: `{"topic":"a","message":"m"}`, want: []jsonEvent{{Topic: "a", Message: "m", HasMessage: true}}},
		{name: "data and message both decoded, refused later", body: `{"data":"d","message":"m"}`,
			want: []jsonEvent{{Data: "d", HasData: true, Message: "m", HasMessage: true}}},
		{name: "empty object", body: `{}`, want: []jsonEvent{{}}},
		{name: "names ignore case", body: `{"Topic":"a","EVENTTYPE":"e","Data":"d","ReTry":1}`,
			want: []jsonEvent{{Topic: "a", EventType: "e", Data: "d", HasData: true, Retry: 1, HasRetry: true}}},
		{name: "case folds beyond ASCII: long s", body: `{"topicſ":["a"],"meſſage":"m"}`,
			want: []jsonEvent{{Topics: []string{"a"}, Message: "m", HasMessage: true}}},
		{name: "escaped name", body: `{"\u0074opic":"a"}`, want: []jsonEvent{{Topic: "a"}}},
		{name: "unknown field", body: `{"topic":"a","dat":"x"}`, errHas: `offset 13: unknown field "dat"`},
		{name: "a folded name takes its field's type", body: `{"topic\u017f":"a"}`, errHas: "topics is a string, want an array"},
		{name: "field twice", body: `{"topic":"a","topic":"b"}`, errHas: `offset 13: field "topic" is given twice`},
		{name: "field twice in two spellings", body: `{"data":"a","DATA":"b"}`, errHas: `field "DATA" is given twice`},
		{name: "field twice, the first null", body: `{"retry":null,"retry":1}`, errHas: "given twice"},

		{name: "string escapes", body: `{"data":"q\"b\\s\/\b\f\n\r\t\u00e9\u20AC"}`,
			want: []jsonEvent{{Data: "q\"b\\s/\b\f\n\r\t\u00e9\u20ac", HasData: true}}},
		{name: "surrogate pair", body: `{"data":"\ud83d\ude00!"}`, want: []jsonEvent{{Data: "\U0001F600!", HasData: true}}},
		{name: "lone high surrogate", body: `{"data":"\ud800x"}`, want: []jsonEvent{{Data: "\uFFFDx", HasData: true}}},
		{name: "low then high surrogate", body: `{"data":"\udc00\ud800"}`, want: []jsonEvent{{Data: "\uFFFD\uFFFD", HasData: true}}},
		{name: "high surrogate, then a plain escape", body: `{"data":"\ud800\u0041"}`, want: []jsonEvent{{Data: "\uFFFDA", HasData: true}}},
		{name: "raw UTF-8", body: `{"topic":"ü/€/😀"}`, want: []jsonEvent{{Topic: "ü/€/😀"}}},
		{name: "invalid UTF-8 in data", body: "{\"data\":\"a\xffb\"}", errHas: "offset 10: invalid UTF-8"},
		{name: "invalid UTF-8 after an escape", body: "{\"data\":\"\\n\xc3\"}", errHas: "invalid UTF-8"},
		{name: "UTF-8 of a surrogate", body: "{\"data\":\"\xed\xa0\x80\"}", errHas: "invalid UTF-8"},
		{name: "invalid UTF-8 in a field name", body: "{\"to\xffpic\":\"a\"}", errHas: "invalid UTF-8"},
		{name: "invalid UTF-8 in JSON data", body: "{\"data\":{\"k\":\"\xff\"}}", errHas: "invalid UTF-8"},
		{name: "invalid UTF-8 outside strings", body: "{\"topic\":\"a\"}\xff", errHas: "data after the first value"},
		{name: "control character in a string", body: "{\"topic\":\"a\x01\"}", errHas: "control character 0x1"},
		{name: "invalid escape", body: `{"data":"\x"}`, errHas: `invalid escape "\\x"`},
		{name: "short \\u escape", body: `{"data":"\u12G4"}`, errHas: `\u escape wants four hex digits`},
		{name: "unterminated string", body: `{"data":"abc`, errHas: "unexpected end"},
		{name: "backslash at the end", body: `{"data":"abc\`, errHas: "unexpected end"},

		{name: "JSON data compacted", body: `{"data": { "a" : [ 1 , -2.5e+3 , true , false , null , "x \" y" ] , "b" : { } , "c" : [ ] } }`,
			want: []jsonEvent{{Data: `{"a":[1,-2.5e+3,true,false,null,"x \" y"],"b":{},"c":[]}`, HasData: true}}},
		{name: "escapes in JSON data kept", body: `{"data":["\u00e9\ud800\n"]}`, want: []jsonEvent{{Data: `["\u00e9\ud800\n"]`, HasData: true}}},
		{name: "number data", body: `{"data":0.5}`, want: []jsonEvent{{Data: "0.5", HasData: true}}},
		{name: "null data is the text null", body: `{"data":null}`, want: []jsonEvent{{Data: "null", HasData: true}}},
		{name: "empty string data", body: `{"data":""}`, want: []jsonEvent{{Data: "", HasData: true}}},
		{name: "leading zero", body: `{"data":01}`, errHas: "invalid character '1'"},
		{name: "bare minus", body: `{"data":-}`, errHas: "want a digit"},
		{name: "no fraction digits", body: `{"data":1.}`, errHas: "decimal point"},
		{name: "no exponent digits", body: `{"data":1e+}`, errHas: "exponent"},
		{name: "leading dot", body: `{"data":.5}`, errHas: "want a value"},
		{name: "plus sign", body: `{"data":+1}`, errHas: "want a value"},
		{name: "bad literal", body: `{"data":tru}`, errHas: "want true"},
		{name: "trailing comma in data", body: `{"data":[1,]}`, errHas: "want a value"},
		{name: "single quotes", body: `{"data":{'a':1}}`, errHas: "want a field name"},
		{name: "nested to the limit", body: deep(maxJSONDepth - 1), want: []jsonEvent{{Topic: "a",
			Data: strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1), HasData: true}}},
		{name: "nested over the limit", body: deep(maxJSONDepth), errHas: "nested over 10000 deep"},
		{name: "nested to the limit in a batch", body: "[" + deep(maxJSONDepth-2) + "]", batch: true, want: []jsonEvent{{Topic: "a",
			Data: strings.Repeat("[", maxJSONDepth-2) + strings.Repeat("]", maxJSONDepth-2), HasData: true}}},
		{name: "nested over the limit in a batch", body: "[" + deep(maxJSONDepth-1) + "]", errHas: "nested over 10000 deep"},

		{name: "retry bounds of int64", body: `{"retry":-9223372036854775808}`, want: []jsonEvent{{Retry: -1 << 63, HasRetry: true}}},
		{name: "retry minus zero", body: `{"retry":-0}`, want: []jsonEvent{{HasRetry: true}}},
		{name: "retry over int64", body: `{"retry":9223372036854775808}`, errHas: "not an integer of 64 bits"},
		{name: "fractional retry", body: `{"retry":1.5}`, errHas: "retry 1.5 is not an integer"},
		{name: "retry with an exponent", body: `{"retry":1e3}`, errHas: "not an integer"},
		{name: "retry as a string", body: `{"retry":"5"}`, errHas: "retry is a string, want an integer"},
		{name: "null retry is unset", body: `{"retry":null}`, want: []jsonEvent{{}}},

		{name: "null fields are absent", body: `{"topic":null,"topics":null,"event":null,"connection":null}`, want: []jsonEvent{{}}},
		{name: "null in topics is empty", body: `{"topics":[null,"a"]}`, want: []jsonEvent{{Topics: []string{"", "a"}}}},
		{name: "empty topics", body: `{"topics":[]}`, want: []jsonEvent{{Topics: []string{}}}},
		{name: "number as topic", body: `{"topic":1}`, errHas: "offset 9: topic is a number, want a string"},
		{name: "string as topics", body: `{"topics":"a"}`, errHas: "topics is a string, want an array of strings"},
		{name: "number in topics", body: `{"topics":["a",2]}`, errHas: "an entry of topics is a number"},
		{name: "object as event", body: `{"event":{}}`, errHas: "event is an object"},
		{name: "null body", body: `null`, want: []jsonEvent{{}}},
		{name: "string body", body: `"a"`, errHas: "the event is a string, want an object"},
		{name: "empty body", body: ``, errHas: "offset 0: unexpected end"},
		{name: "only spaces", body: " \n\t", errHas: "offset 3: unexpected end"},
		{name: "cut short", body: `{"topic":`, errHas: "unexpected end"},

		{name: "spaces around and between", body: "\v\u00a0 {\n\"topic\" :\t\"a\" ,\r\"data\":\"x\" }\r\n\f\u2028",
			want: []jsonEvent{{Topic: "a", Data: "x", HasData: true}}},
		{name: "vertical tab between tokens", body: "{\"topic\":\v\"a\"}", errHas: "invalid byte 0xb, want a value"},
		{name: "second value", body: `{"topic":"a"}{"topic":"b"}`, errHas: "offset 13: data after the first value"},
		{name: "trailing word", body: `{"topic":"a"} x`, errHas: "data after the first value"},
		{name: "trailing closer", body: `{"topic":"a"}]`, errHas: "data after the first value"},
		{name: "missing comma", body: `{"topic":"a" "data":"b"}`, errHas: `invalid character '"', want ',' or '}'`},
		{name: "missing colon", body: `{"topic" "a"}`, errHas: "want ':'"},

		{name: "batch", body: ` [{"topic":"a"}, null ,{"topic":"b","data":[1]}] `, batch: true,
			want: []jsonEvent{{Topic: "a"}, {}, {Topic: "b", Data: "[1]", HasData: true}}},
		{name: "empty batch", body: `[]`, batch: true, want: []jsonEvent{}},
		{name: "number in a batch", body: `[1]`, errHas: "the event is a number"},
		{name: "trailing comma in a batch", body: `[{"topic":"a"},]`, errHas: "offset 15: invalid character ']'"},
		{name: "array in a batch", body: `[[]]`, errHas: "the event is an array"},
		{name: "unclosed batch", body: `[{"topic":"a"}`, errHas: "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, batch, err := decodeJSONEvents([]byte(tt.body))
			// The nesting limit is too deep for the fuzzer to reach, so the
			// table holds the decoder to encoding/json as well.
			_, _, oldErr := legacyDecode([]byte(tt.body))
			if (oldErr == nil) != (err == nil) && !(oldErr == nil && legacyRepeatsField([]byte(tt.body))) {
				t.Errorf("encoding/json disagrees: %v, the decoder: %v", oldErr, err)
			}
			if tt.errHas != "" {
				if err == nil {
					t.Fatalf("accepted as %+v, want an error saying %q", objs, tt.errHas)
				}
				if !strings.HasPrefix(err.Error(), "malformed JSON at offset ") || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error %q, want one saying %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if batch != tt.batch {
				t.Errorf("batch %v, want %v", batch, tt.batch)
			}
			if !reflect.DeepEqual(objs, tt.want) {
				t.Errorf("got  %+v\nwant %+v", objs, tt.want)
			}
		})
	}
}

// A line of a streaming publish is one object; an array is refused before
// it is decoded, anything else as a JSON publish would refuse it.
func TestDecodeJSONObject(t *testing.T) {
	var o jsonEvent
	if err := decodeJSONObject([]byte(" \t[{\"topic\":\"a\"}]"), &o); !errors.Is(err, errJSONArray) {
		t.Errorf("array: %v, want errJSONArray", err)
	}
	if err := decodeJSONObject([]byte(`{"topic":"a","data":{"k": 1}} `), &o); err != nil {
		t.Fatalf("object: %v", err)
	}
	if want := (jsonEvent{Topic: "a", Data: `{"k":1}`, HasData: true}); !reflect.DeepEqual(o, want) {
		t.Errorf("got %+v, want %+v", o, want)
	}
	for _, line := range []string{`{"topic":"a"} {}`, `{"topic":"a","topic":"a"}`, `"a"`, ``} {
		if err := decodeJSONObject([]byte(line), new(jsonEvent)); err == nil || errors.Is(err, errJSONArray) {
			t.Errorf("%q: %v, want a malformed JSON error", line, err)
		}
	}
}

// FuzzPublishJSON holds the decoder to encoding/json, the decoder it
// replaced: for any body both refuse, or both accept with equal events.
// The one difference by design is that a field given twice is refused.
func FuzzPublishJSON(f *testing.F) {
	for _, seed := range []string{
		`{"topic":"orders","event":"order-created","data":"hello"}`,
		`{"topic":"a","type":"t","message":{"a": [1, 2.5, null]},"retry":100}`,
		`[{"topic":"a","data":"1"},{"topics":["b","c"],"eventType":"e","data":"x\r\ny"}]`,
		`{"Topic":"a","DATA":"x","ReTry":-0}`,
		`{"topicſ":["a"],"meſſage":"m","\u0074ype":"K"}`,
		`{"topic":"a","topic":"b"}`,
		`{"data":"a","Data":"b"}`,
		`{"data":"\ud83d\ude00\ud800\udc00\udbff\udfff\ud800\u0041\udc00\ud800x\u00e9"}`,
		`{"data":"q\"b\\s\/\b\f\n\r\t"}`,
		`{"data": { "a" : [ 1 , -2.5e+3 , true , false , null , "x \" y" ] , "b" : { } } }`,
		`{"data":["\u00e9\ud800\n"], "retry": 9223372036854775807}`,
		`{"retry":9223372036854775808}`,
		`{"retry":-9223372036854775808}`,
		`{"retry":1.0}`,
		`{"retry":1e2}`,
		`{"retry":"5"}`,
		`{"data":null,"topics":null,"topic":null,"retry":null}`,
		`{"topics":[null,"a",""]}`,
		`{"topics":[]}`,
		`null`,
		`[null]`,
		`[]`,
		`[[]]`,
		`"a"`,
		`1`,
		"\v\u00a0 {\n\"topic\" :\t\"a\" }\r\n\f\u2028",
		"{\"topic\":\v\"a\"}",
		"\u0085{\"topic\":\"a\"}\u00a0",
		`{"topic":"a"}{"topic":"b"}`,
		`{"topic":"a"}]`,
		`{"data":01}`,
		`{"data":-}`,
		`{"data":1.}`,
		`{"data":1e+}`,
		`{"data":tru}`,
		`{"data":[1,]}`,
		"{\"data\":\"a\xffb\"}",
		"{\"data\":{\"k\":\"\xff\"}}",
		"{\"topic\":\"a\x01\"}",
		"{\"data\":\"\xed\xa0\x80\"}",
		`{"data":"\x"}`,
		`{"data":"\u12G4"}`,
		`{"data":"abc\`,
		`{"data":"\ud800\u12"}`,
		`{"dat":"x"}`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotBatch, gotErr := decodeJSONEvents(body)
		want, wantBatch, wantErr := legacyDecode(body)
		if wantErr == nil && legacyRepeatsField(body) {
			if gotErr == nil || !strings.Contains(gotErr.Error(), "is given twice") {
				t.Fatalf("%q: a field given twice, got %+v, %v; want it refused", body, got, gotErr)
			}
			return
		}
		switch {
		case (gotErr == nil) != (wantErr == nil):
			t.Fatalf("%q:\n new: %+v, %v\n old: %+v, %v", body, got, gotErr, want, wantErr)
		case gotErr != nil:
			if !strings.HasPrefix(gotErr.Error(), "malformed JSON at offset ") {
				t.Fatalf("%q: error %q does not say where", body, gotErr)
			}
		case gotBatch != wantBatch || !reflect.DeepEqual(got, want):
			t.Fatalf("%q:\n new: batch %v %+v\n old: batch %v %+v", body, gotBatch, got, wantBatch, want)
		}

		// The line decoder agrees with the body decoder.
		var o jsonEvent
		lineErr := decodeJSONObject(body, &o)
		switch {
		case gotErr == nil && gotBatch:
			if !errors.Is(lineErr, errJSONArray) {
				t.Fatalf("%q: an array line: %v", body, lineErr)
			}
		case gotErr == nil:
			if lineErr != nil || !reflect.DeepEqual(o, got[0]) {
				t.Fatalf("%q: line decoded as %+v, %v; the body as %+v", body, o, lineErr, got[0])
			}
		case lineErr == nil:
			t.Fatalf("%q: line accepted as %+v, the body refused: %v", body, o, gotErr)
		}
	})
}

func BenchmarkDecodePublish(b *testing.B) {
	typical := `{"topic":"bench","data":"{\"seq\":123456,\"ts\":1764620000000000000,\"pad\":\"\"}"}`
	var text strings.Builder
	for text.Len() < 4096 {
		text.WriteString(`line of event text, with \"quotes\" and a tab\t`)
	}
	large := `{"topic":"orders/42","event":"report","data":"` + text.String() + `"}`
	decoders := []struct {
		name   string
		decode func([]byte) ([]*hub.Event, bool, error)
	}{
		{"encoding-json", legacyDecodeJSON},
		{"single-pass", decodeJSON},
	}
	for _, body := range []struct{ name, body string }{{"typical", typical}, {"4KB-data", large}} {
		for _, dec := range decoders {
			b.Run(body.name+"/"+dec.name, func(b *testing.B) {
				in := []byte(body.body)
				b.ReportAllocs()
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					if events, _, err := dec.decode(in); err != nil || len(events) != 1 {
						b.Fatalf("decode: %v", err)
					}
				}
			})
		}
	}
}

// What follows is the JSON decoding of publish.go before publish_json.go,
// kept as the oracle of FuzzPublishJSON and the baseline of
// BenchmarkDecodePublish.

// legacyJSONEvent is the JSON form of a publish as encoding/json decoded it.
type legacyJSONEvent struct {
	Topic      string          `json:"topic"`
	Topics     []string        `json:"topics"`
	Event      string          `json:"event"`
	Type       string          `json:"type"`
	EventType  string          `json:"eventType"`
	Data       json.RawMessage `json:"data"`
	Message    json.RawMessage `json:"message"`
	Retry      *int64          `json:"retry"`
	Connection string          `json:"connection"`
	Exclude    string          `json:"exclude"`
	// IdempotencyKey came with the idempotency keys, after the decoder.
	IdempotencyKey string `json:"idempotency_key"`
}

// legacyDecode decodes a body as decodeJSON did, into jsonEvent values.
func legacyDecode(body []byte) ([]jsonEvent, bool, error) {
	if !utf8.Valid(body) {
		return nil, false, errors.New("body is not valid UTF-8")
	}
	body = bytes.TrimSpace(body)
	batch := len(body) > 0 && body[0] == '['
	var objs []legacyJSONEvent
	if batch {
		if err := legacyStrictJSON(body, &objs); err != nil {
			return nil, false, err
		}
	} else {
		objs = make([]legacyJSONEvent, 1)
		if err := legacyStrictJSON(body, &objs[0]); err != nil {
			return nil, false, err
		}
	}
	out := make([]jsonEvent, len(objs))
	for i, o := range objs {
		e := jsonEvent{Topic: o.Topic, Topics: o.Topics, Event: o.Event, Type: o.Type, EventType: o.EventType,
			Connection: o.Connection, Exclude: o.Exclude, IdempotencyKey: o.IdempotencyKey}
		var err error
		if o.Data != nil {
			e.HasData = true
			if e.Data, err = legacyDataText(o.Data); err != nil {
				return nil, false, err
			}
		}
		if o.Message != nil {
			e.HasMessage = true
			if e.Message, err = legacyDataText(o.Message); err != nil {
				return nil, false, err
			}
		}
		if o.Retry != nil {
			e.Retry, e.HasRetry = *o.Retry, true
		}
		out[i] = e
	}
	return out, batch, nil
}

// legacyDecodeJSON is decodeJSON as it was, events and all.
func legacyDecodeJSON(body []byte) ([]*hub.Event, bool, error) {
	objs, batch, err := legacyDecode(body)
	if err != nil {
		return nil, false, err
	}
	if batch && len(objs) == 0 {
		return nil, false, errors.New("empty array: no events to publish")
	}
	if len(objs) > maxBatch {
		return nil, false, fmt.Errorf("%d events in one request, at most %d", len(objs), maxBatch)
	}
	events := make([]*hub.Event, len(objs))
	for i, o := range objs {
		if events[i], err = o.event(); err != nil {
			if batch {
				return nil, false, fmt.Errorf("event %d: %w", i, err)
			}
			return nil, false, err
		}
	}
	return events, batch, nil
}

// legacyStrictJSON decodes exactly one JSON value and rejects unknown
// fields.
func legacyStrictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: data after the first value")
	}
	return nil
}

// legacyDataText is the event data for a JSON data value: a string as it
// is, any other value as its compact JSON text.
func legacyDataText(raw json.RawMessage) (string, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("data: %w", err)
		}
		return s, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	return buf.String(), nil
}

// legacyRepeatsField reports whether an event object of a body that
// legacyDecode accepted names one field twice, which encoding/json let the
// last one win and the new decoder refuses. encoding/json itself says which
// field a name is.
func legacyRepeatsField(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimSpace(body)))
	tok, _ := dec.Token()
	if tok == json.Delim('{') {
		return objectRepeatsField(dec)
	}
	if tok != json.Delim('[') {
		return false
	}
	for dec.More() {
		if tok, _ := dec.Token(); tok == json.Delim('{') && objectRepeatsField(dec) {
			return true
		}
	}
	return false
}

// objectRepeatsField reads the rest of an object whose { was read.
func objectRepeatsField(dec *json.Decoder) bool {
	seen := map[string]bool{}
	repeats := false
	for dec.More() {
		tok, _ := dec.Token()
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			panic(err) // legacyDecode accepted the body
		}
		field := legacyFieldOf(tok.(string))
		repeats = repeats || seen[field]
		seen[field] = true
	}
	_, _ = dec.Token() // the }
	return repeats
}

// legacyFieldOf names the legacyJSONEvent field encoding/json decodes key
// into.
func legacyFieldOf(key string) string {
	name, _ := json.Marshal(key)
	var probe struct {
		Topic      json.RawMessage `json:"topic"`
		Topics     json.RawMessage `json:"topics"`
		Event      json.RawMessage `json:"event"`
		Type       json.RawMessage `json:"type"`
		EventType  json.RawMessage `json:"eventType"`
		Data       json.RawMessage `json:"data"`
		Message    json.RawMessage `json:"message"`
		Retry      json.RawMessage `json:"retry"`
		Connection json.RawMessage `json:"connection"`
		Exclude    json.RawMessage `json:"exclude"`
		// IdempotencyKey as decodeJSON's field is named.
		IdempotencyKey json.RawMessage `json:"idempotency_key"`
	}
	if err := json.Unmarshal([]byte("{"+string(name)+":0}"), &probe); err != nil {
		panic(err)
	}
	v := reflect.ValueOf(probe)
	for i := range v.NumField() {
		if !v.Field(i).IsNil() {
			return v.Type().Field(i).Name
		}
	}
	panic("legacyDecode accepted an unknown field " + string(name))
}

// plainRun, eight bytes at a time, stops where a byte-by-byte scan stops:
// every byte value at every position of a 20-byte run of plain ones.
func TestPlainRun(t *testing.T) {
	for c := range 256 {
		for pos := range 20 {
			in := bytes.Repeat([]byte{'a'}, 20)
			in[pos] = byte(c)
			want := 0
			for want < len(in) && plain[in[want]] {
				want++
			}
			for start := range pos + 1 {
				if got := plainRun(in, start); got != want {
					t.Fatalf("byte %#x at %d, from %d: plainRun %d, want %d", c, pos, start, got, want)
				}
			}
		}
	}
}
