package caddysse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/caddy-sse/caddy-sse/hub"
)

// ndjsonWant is what the reader should make of one non-empty line: its
// number and either the event's data or the status it is refused with.
type ndjsonWant struct {
	n      int
	data   string
	status int
}

// readAllLines runs the reader to the end of the body.
func readAllLines(t *testing.T, body io.Reader, maxLine, maxSize int) []ndjsonWant {
	t.Helper()
	d := newNDJSONReader(body, maxLine, maxSize)
	var got []ndjsonWant
	for {
		l, err := d.next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		w := ndjsonWant{n: l.n}
		if l.err != nil {
			w.status = pubStatus(l.err)
			if w.status == 0 {
				t.Fatalf("line %d: error %v is not an httpError", l.n, l.err)
			}
		} else {
			w.data = l.event.Data
		}
		got = append(got, w)
	}
}

func TestNDJSONReader(t *testing.T) {
	ev := func(data string) string { return `{"topic":"a","data":"` + data + `"}` }
	big := strings.Repeat("x", ndjsonReadBuffer+100) // longer than the read buffer
	tests := []struct {
		name    string
		body    string
		maxLine int
		want    []ndjsonWant
	}{
		{"good lines", ev("1") + "\n" + ev("2") + "\n", 1 << 20,
			[]ndjsonWant{{n: 1, data: "1"}, {n: 2, data: "2"}}},
		{"last line without newline", ev("1") + "\n" + ev("2"), 1 << 20,
			[]ndjsonWant{{n: 1, data: "1"}, {n: 2, data: "2"}}},
		{"CRLF line ends", ev("1") + "\r\n" + ev("2") + "\r\n", 1 << 20,
			[]ndjsonWant{{n: 1, data: "1"}, {n: 2, data: "2"}}},
		{"empty and blank lines skipped, still counted", "\n" + ev("1") + "\n\r\n  \t\n" + ev("2") + "\n\n", 1 << 20,
			[]ndjsonWant{{n: 2, data: "1"}, {n: 5, data: "2"}}},
		{"empty body", "", 1 << 20, nil},
		{"only newlines", "\n\n\r\n", 1 << 20, nil},
		{"bad JSON in the middle", ev("1") + "\n{\"topic\":\n" + ev("3") + "\n", 1 << 20,
			[]ndjsonWant{{n: 1, data: "1"}, {n: 2, status: http.StatusBadRequest}, {n: 3, data: "3"}}},
		{"unknown field", `{"topic":"a","id":"x"}` + "\n" + ev("2"), 1 << 20,
			[]ndjsonWant{{n: 1, status: http.StatusBadRequest}, {n: 2, data: "2"}}},
		{"no topic", `{"data":"x"}`, 1 << 20, []ndjsonWant{{n: 1, status: http.StatusBadRequest}}},
		{"array refused", `[` + ev("1") + `]`, 1 << 20, []ndjsonWant{{n: 1, status: http.StatusBadRequest}}},
		{"two values on one line", ev("1") + ev("2"), 1 << 20, []ndjsonWant{{n: 1, status: http.StatusBadRequest}}},
		{"invalid UTF-8", "{\"topic\":\"a\",\"data\":\"\xff\"}", 1 << 20, []ndjsonWant{{n: 1, status: http.StatusBadRequest}}},
		{"too long, then resynchronised", ev(strings.Repeat("y", 100)) + "\n" + ev("2") + "\n", 64,
			[]ndjsonWant{{n: 1, status: http.StatusRequestEntityTooLarge}, {n: 2, data: "2"}}},
		{"too long last line", ev("1") + "\n" + ev(strings.Repeat("y", 100)), 64,
			[]ndjsonWant{{n: 1, data: "1"}, {n: 2, status: http.StatusRequestEntityTooLarge}}},
		{"exactly the bound, CRLF not counted", ev(strings.Repeat("y", 64-len(ev("")))) + "\r\n", 64,
			[]ndjsonWant{{n: 1, data: strings.Repeat("y", 64-len(ev("")))}}},
		{"one over the bound", ev(strings.Repeat("y", 65-len(ev("")))) + "\r\n" + ev("2"), 64,
			[]ndjsonWant{{n: 1, status: http.StatusRequestEntityTooLarge}, {n: 2, data: "2"}}},
		{"longer than the read buffer, within the bound", ev(big) + "\n" + ev("2"), 1 << 20,
			[]ndjsonWant{{n: 1, data: big}, {n: 2, data: "2"}}},
		{"longer than the read buffer and the bound", ev(big+big) + "\n" + ev("2"), ndjsonReadBuffer + 200,
			[]ndjsonWant{{n: 1, status: http.StatusRequestEntityTooLarge}, {n: 2, data: "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and a byte at a time: line ends split across reads.
			for _, body := range []io.Reader{strings.NewReader(tt.body), iotest.OneByteReader(strings.NewReader(tt.body))} {
				got := readAllLines(t, body, tt.maxLine, 1<<20)
				if len(got) != len(tt.want) {
					t.Fatalf("got %d lines %v, want %d %v", len(got), short(got), len(tt.want), short(tt.want))
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("line %d: got %v, want %v", i, short(got[i:i+1]), short(tt.want[i:i+1]))
					}
				}
			}
		})
	}
}

// short keeps long data out of failure messages.
func short(ws []ndjsonWant) []ndjsonWant {
	out := make([]ndjsonWant, len(ws))
	for i, w := range ws {
		if len(w.data) > 20 {
			w.data = w.data[:20] + "..."
		}
		out[i] = w
	}
	return out
}

func TestNDJSONReaderEventSize(t *testing.T) {
	// max_event_size is judged per line as for a JSON publish: 413.
	got := readAllLines(t, strings.NewReader(`{"topic":"a","data":"`+strings.Repeat("z", 200)+`"}`), 1<<20, 100)
	if len(got) != 1 || got[0].status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v, want one 413", short(got))
	}
}

func TestNDJSONReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	body := io.MultiReader(strings.NewReader(`{"topic":"a","data":"1"}`+"\n"), iotest.ErrReader(boom))
	d := newNDJSONReader(body, 1<<20, 1<<20)
	if l, err := d.next(); err != nil || l.err != nil || l.event.Data != "1" {
		t.Fatalf("first line: %+v, %v", l, err)
	}
	for range 2 { // the error sticks
		if _, err := d.next(); !errors.Is(err, boom) {
			t.Fatalf("got %v, want the read error", err)
		}
	}
}

func TestNDJSONLineBuffered(t *testing.T) {
	d := newNDJSONReader(strings.NewReader("{\"topic\":\"a\"}\n{\"topic\":\"b\"}"), 1<<20, 1<<20)
	if _, err := d.next(); err != nil {
		t.Fatal(err)
	}
	if d.lineBuffered() {
		t.Error("a line without its newline is reported as buffered")
	}
	d = newNDJSONReader(strings.NewReader("{\"topic\":\"a\"}\n{\"topic\":\"b\"}\n"), 1<<20, 1<<20)
	if _, err := d.next(); err != nil {
		t.Fatal(err)
	}
	if !d.lineBuffered() {
		t.Error("a whole buffered line is not reported")
	}
}

func TestAppendAcks(t *testing.T) {
	stats := new(publishStats)
	lines := []ndjsonLine{
		{n: 1, event: &hub.Event{ID: "e-1"}, subscribers: 3},
		{n: 2, err: errStatus(http.StatusBadRequest, `malformed "JSON"`)},
		{n: 4, err: insufficientScope("the token does not allow publishing to %q", "x")},
		{n: 5, event: &hub.Event{ID: "id with \"quote\" <tag>"}},
	}
	got := string(appendAcks(nil, lines, nil, stats))
	want := `{"id":"e-1","subscribers":3}` + "\n" +
		`{"line":2,"status":400,"error":"malformed \"JSON\""}` + "\n" +
		`{"line":4,"status":403,"error":"the token does not allow publishing to \"x\""}` + "\n" +
		`{"id":"id with \"quote\" \u003ctag\u003e","subscribers":0}` + "\n"
	if got != want {
		t.Errorf("acks:\n%s\nwant:\n%s", got, want)
	}
	if stats.errors[0].Load() != 1 || stats.errors[3].Load() != 1 {
		t.Errorf("errors counted: 400 %d, 403 %d; want 1 and 1", stats.errors[0].Load(), stats.errors[3].Load())
	}
	// A failed store turns the good lines' acks into errors; refused lines
	// keep their own.
	got = string(appendAcks(nil, lines[:2], errStatus(http.StatusServiceUnavailable, "event not stored: %w", hub.ErrHubClosed), nil))
	want = `{"line":1,"status":503,"error":"event not stored: hub is closed"}` + "\n" +
		`{"line":2,"status":400,"error":"malformed \"JSON\""}` + "\n"
	if got != want {
		t.Errorf("acks after a failed store:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzNDJSONReader checks that any body yields, line by line, exactly the
// events a JSON publish of each line alone would, and that every ack the
// handler would write is one valid JSON line.
func FuzzNDJSONReader(f *testing.F) {
	f.Add([]byte("{\"topic\":\"a\",\"data\":\"1\"}\n{\"topic\":\n\r\n{\"topic\":\"b\",\"data\":{\"x\":1}}"), 64)
	f.Add([]byte("\n\n[{\"topic\":\"a\"}]\r\n{\"topic\":\"a\",\"id\":\"x\"}"), 32)
	f.Add([]byte("{\"topic\":\"a\",\"data\":\"\xff\"}\n"+strings.Repeat("x", 300)+"\n{\"topic\":\"c\"}"), 100)
	f.Fuzz(func(t *testing.T, body []byte, maxLine int) {
		maxLine = 16 + (maxLine&0xffff)%4096
		d := newNDJSONReader(bytes.NewReader(body), maxLine, 1<<20)
		// The reference: split the body by hand.
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, len(body)+1)
		var ref []string
		for sc.Scan() {
			ref = append(ref, sc.Text()) // without its "\n" or "\r\n"
		}
		var lines []ndjsonLine
		for {
			l, err := d.next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("next: %v", err)
				}
				break
			}
			lines = append(lines, l)
		}
		i := 0
		for n, raw := range ref {
			if len(raw) <= maxLine && len(bytes.TrimSpace([]byte(raw))) == 0 {
				continue
			}
			if i >= len(lines) {
				t.Fatalf("line %d %q: not returned", n+1, raw)
			}
			l := lines[i]
			i++
			if l.n != n+1 {
				t.Fatalf("line %d returned as line %d", n+1, l.n)
			}
			if len(raw) > maxLine {
				if pubStatus(l.err) != http.StatusRequestEntityTooLarge {
					t.Fatalf("line %d of %d bytes over %d: got %v", l.n, len(raw), maxLine, l.err)
				}
				continue
			}
			e, err := decodeLine([]byte(raw), 1<<20)
			if (err == nil) != (l.err == nil) {
				t.Fatalf("line %d %q: got error %v, a publish of it alone %v", l.n, raw, l.err, err)
			}
			if err == nil && (e.Data != l.event.Data || e.Name != l.event.Name || strings.Join(e.Topics, ",") != strings.Join(l.event.Topics, ",")) {
				t.Fatalf("line %d %q: got %+v, want %+v", l.n, raw, l.event, e)
			}
		}
		if i != len(lines) {
			t.Fatalf("%d lines returned, %d in the body", len(lines), i)
		}
		for j := range lines {
			if lines[j].err == nil {
				lines[j].event.ID = "e-1"
			}
		}
		acks := appendAcks(nil, lines, nil, nil)
		for _, ack := range bytes.SplitAfter(acks, []byte("\n")) {
			if len(ack) == 0 {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal(ack, &v); err != nil || ack[len(ack)-1] != '\n' || bytes.Count(ack, []byte("\n")) != 1 {
				t.Fatalf("ack %q is not one JSON line: %v", ack, err)
			}
		}
	})
}
