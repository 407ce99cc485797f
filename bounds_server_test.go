package caddysse

// Whole-server tests of the bounds on what one client can cost the hub:
// polling answers, event size, GET bodies and the process's stream ceiling.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// pollEvents polls path with the query and decodes the answer.
func (s *testServer) pollEvents(path, query string) pollResponse {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url(path+"?"+query), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out pollResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("poll %s?%s: %d %v", path, query, resp.StatusCode, err)
	}
	return out
}

// publishBatch publishes n events with the given data to topic in one
// request and returns their ids.
func (s *testServer) publishBatch(path, topic string, n int, data string) []string {
	s.t.Helper()
	one, _ := json.Marshal(map[string]string{"topic": topic, "data": data})
	body := "[" + strings.TrimSuffix(strings.Repeat(string(one)+",", n), ",") + "]"
	resp, err := http.Post(s.url(path), "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var results []publishResult
	if err := json.NewDecoder(resp.Body).Decode(&results); err != nil || resp.StatusCode != http.StatusOK || len(results) != n {
		s.t.Fatalf("publishing %d events: %d %v", n, resp.StatusCode, err)
	}
	ids := make([]string, n)
	for i, r := range results {
		ids[i] = r.ID
	}
	return ids
}

func TestServerPollBounds(t *testing.T) {
	s := startServer(t, `
	sse /events {
		history 2000
	}
	sse /publish {
		publish
		max_event_size 2MiB
	}
`)
	// By count: 1,500 waiting events come in answers of at most 1,000.
	start := s.pollEvents("/events", "topic=many").LastEventID
	ids := append(s.publishBatch("/publish", "many", 750, "x"), s.publishBatch("/publish", "many", 750, "y")...)
	got := s.pollEvents("/events", "topic=many&last_event_id="+start)
	if len(got.Events) != maxPollEvents || !got.More || got.LastEventID != ids[maxPollEvents-1] {
		t.Fatalf("first answer: %d events, more %v, lastEventId %q; want %d, true, %q",
			len(got.Events), got.More, got.LastEventID, maxPollEvents, ids[maxPollEvents-1])
	}
	if got.Events[0].ID != ids[0] {
		t.Errorf("first answer starts at %s, want %s", got.Events[0].ID, ids[0])
	}
	got = s.pollEvents("/events", "topic=many&last_event_id="+got.LastEventID)
	if len(got.Events) != 500 || got.More || got.Events[0].ID != ids[maxPollEvents] || got.LastEventID != ids[1499] {
		t.Fatalf("second answer: %d events from %v, more %v, lastEventId %q; want the other 500",
			len(got.Events), got.Events[0].ID, got.More, got.LastEventID)
	}

	// By data: 1.5 MiB events, two to an answer of at most 4 MiB.
	start = got.LastEventID
	big := strings.Repeat("b", 3<<19)
	var bigIDs []string
	for range 5 {
		bigIDs = append(bigIDs, s.publishBatch("/publish", "big", 1, big)...)
	}
	var sizes []int
	for cursor := start; ; {
		got := s.pollEvents("/events", "topic=big&last_event_id="+cursor)
		sizes = append(sizes, len(got.Events))
		for _, e := range got.Events {
			if e.Data != big {
				t.Fatalf("event %s has %d bytes of data, want %d", e.ID, len(e.Data), len(big))
			}
		}
		cursor = got.LastEventID
		if !got.More {
			if cursor != bigIDs[4] {
				t.Fatalf("last answer ends at %s, want %s", cursor, bigIDs[4])
			}
			break
		}
		if len(sizes) > 5 {
			t.Fatalf("answers never end: %v", sizes)
		}
	}
	if fmt.Sprint(sizes) != "[2 2 1]" {
		t.Errorf("answers held %v events, want [2 2 1]", sizes)
	}
}

func TestServerPollResetAnsweredAtOnce(t *testing.T) {
	s := startServer(t, pubsubSite)
	head := s.mustPublish("/publish", `{"topic":"p","data":"one"}`)
	epoch, _, _ := hub.ParseID(head)
	tests := []struct{ id, reason string }{
		{"garbage", "unknown"},
		{epoch + "-999999", "unknown"},
		{"zzzzzz-1", "epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			begin := time.Now()
			got := s.pollEvents("/events", "topic=p&wait=20&last_event_id="+tt.id)
			// Generous: the point is that the 20s wait is not served.
			if waited := time.Since(begin); waited > 10*time.Second {
				t.Errorf("a poll that cannot resume waited %s", waited)
			}
			if got.Reset == nil || got.Reset.Reason != tt.reason || got.Reset.LastEventID != tt.id {
				t.Fatalf("answer %+v, want a reset %q for %q", got, tt.reason, tt.id)
			}
			if len(got.Events) != 0 || got.LastEventID != head {
				t.Errorf("answer %+v: want no events and the position %s", got, head)
			}
		})
	}
}

func TestServerPollQuietTopicMovesCursor(t *testing.T) {
	s := startServer(t, pubsubSite)
	from := s.mustPublish("/publish", `{"topic":"quiet","data":"last on this topic"}`)
	var head string
	for range 3 {
		head = s.mustPublish("/publish", `{"topic":"busy","data":"elsewhere"}`)
	}
	for _, query := range []string{"", "&wait=0.2"} {
		got := s.pollEvents("/events", "topic=quiet&last_event_id="+from+query)
		if len(got.Events) != 0 || got.LastEventID != head || got.More || got.Reset != nil {
			t.Errorf("poll%s after other topics' events: %+v; want no events and lastEventId %s", query, got, head)
		}
	}
	// From there the next event on the topic comes through.
	id := s.mustPublish("/publish", `{"topic":"quiet","data":"news"}`)
	if got := s.pollEvents("/events", "topic=quiet&last_event_id="+head); len(got.Events) != 1 || got.Events[0].ID != id {
		t.Errorf("poll from the moved cursor: %+v, want event %s", got, id)
	}
}

func TestServerEventSizeCountsEncoding(t *testing.T) {
	s := startServer(t, `
	sse /events
	sse /publish {
		publish
		max_event_size 1KiB
	}
`)
	st := s.subscribe("/events?topic=*")
	st.nextEvent() // connected
	long := make([]string, 8)
	for i := range long {
		long[i] = fmt.Sprintf("%q", fmt.Sprintf("%03d", i)+strings.Repeat("t", 125))
	}
	tests := []struct{ name, body string }{
		// 600 bytes of data, but 600 data lines on the wire: 4,200 bytes.
		{"newline-only data", `{"topic":"a","data":"` + strings.Repeat(`\n`, 600) + `"}`},
		{"CRLF-heavy data", `{"topic":"a","data":"` + strings.Repeat(`x\r\n`, 200) + `"}`},
		// One byte of data, 1 KiB of topics.
		{"many long topics", `{"topics":[` + strings.Join(long, ",") + `],"data":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := s.publish("/publish", tt.body)
			if status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d (%v), want 413", status, out)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, "encoded") || !strings.Contains(msg, "max_event_size of 1024") {
				t.Errorf("error %q does not say what was counted", msg)
			}
		})
	}
	// Nothing refused reached the stream: the next event is this one.
	id := s.mustPublish("/publish", `{"topic":"a","data":"`+strings.Repeat("y", 900)+`"}`)
	if ev := st.nextEvent(); ev.ID != id {
		t.Errorf("subscriber got %+v, want only the accepted event %s", ev, id)
	}
}

func TestServerGetWithBodyRefused(t *testing.T) {
	s := startServer(t, pubsubSite)
	tests := []struct{ name, accept, framing, body string }{
		{"stream, Content-Length", "text/event-stream", "Content-Length: 5\r\n", "hello"},
		{"stream, chunked", "text/event-stream", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"},
		{"poll, Content-Length", "application/json", "Content-Length: 2\r\n", "{}"},
		{"poll, chunked", "application/json", "Transfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "GET /events?topic=a HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: %s\r\n%s\r\n%s", tt.accept, tt.framing, tt.body)
			req, _ := http.NewRequest(http.MethodGet, "/events?topic=a", nil)
			resp, err := http.ReadResponse(bufio.NewReader(conn), req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var out struct{ Error string }
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &out) != nil || !strings.Contains(out.Error, "body") {
				t.Errorf("answer %d %q, want 400 with a JSON error about the body", resp.StatusCode, body)
			}
		})
	}
	// Without a body the same requests are served.
	s.subscribe("/events?topic=a").close()
	s.pollEvents("/events", "topic=a")
}

func TestServerProcessStreamCeiling(t *testing.T) {
	// With 80 open files Caddy keeps 40 for itself and holds 40 streams.
	const fileLimit, ceiling = 80, 40
	s := startServerWith(t, pathDetached, `
	sse /events
	sse /publish {
		publish
	}
`, "sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, fileLimit), "sh")
	streams := make([]*stream, ceiling)
	for i := range streams {
		streams[i] = s.subscribe("/events?topic=a")
	}
	resp, err := http.Get(s.url("/events?topic=a"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct{ Error string }
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		json.Unmarshal(body, &out) != nil || !strings.Contains(out.Error, "open-file limit") {
		t.Fatalf("stream %d answered %d, Retry-After %q, %q; want 503 with Retry-After and a JSON error",
			ceiling+1, resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// The descriptors kept back still serve publishes.
	if status, out := s.publish("/publish", `{"topic":"a","data":"x"}`); status != http.StatusOK || out["subscribers"] != float64(ceiling) {
		t.Errorf("publish with the streams at the ceiling: %d %v", status, out)
	}
	// A stream that ends gives its slot back.
	streams[0].close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, status := s.trySubscribe("/events?topic=a")
		if status == http.StatusOK {
			st.close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not given back after a client left: %d", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
