package caddysse

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// publishStream is an open streaming publish: lines are written to the
// request body while acks are read from the response.
type publishStream struct {
	t    *testing.T
	body *io.PipeWriter
	resp *http.Response
	acks chan string
}

// ndjsonAck is one line of a streaming publish's answer.
type ndjsonAck struct {
	ID          string `json:"id"`
	Subscribers *int   `json:"subscribers"`
	Line        int    `json:"line"`
	Status      int    `json:"status"`
	Error       string `json:"error"`
}

// openPublishStream starts a streaming publish on path with the server's
// client (HTTP/1.1 or h2c); header pairs are added to the request.
func (s *testServer) openPublishStream(path string, header ...string) *publishStream {
	s.t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, s.url(path), pr)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	ps := &publishStream{t: s.t, body: pw, resp: resp, acks: make(chan string, 1024)}
	go func() {
		defer close(ps.acks)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				ps.acks <- line
			}
			if err != nil {
				return
			}
		}
	}()
	s.t.Cleanup(func() {
		pw.Close()
		resp.Body.Close()
	})
	return ps
}

// send writes lines to the request body, each with its line end.
func (ps *publishStream) send(lines ...string) {
	ps.t.Helper()
	if _, err := io.WriteString(ps.body, strings.Join(lines, "")); err != nil {
		ps.t.Fatalf("writing the body: %v", err)
	}
}

// ack reads the next ack, failing after a while.
func (ps *publishStream) ack() ndjsonAck {
	ps.t.Helper()
	select {
	case line, ok := <-ps.acks:
		if !ok {
			ps.t.Fatal("the answer ended; want another ack")
		}
		var a ndjsonAck
		if err := json.Unmarshal([]byte(line), &a); err != nil || !strings.HasSuffix(line, "\n") {
			ps.t.Fatalf("ack %q is not a JSON line: %v", line, err)
		}
		return a
	case <-time.After(10 * time.Second):
		ps.t.Fatal("no ack within 10s")
	}
	return ndjsonAck{}
}

// stored checks an ack of a stored event and returns its id.
func (ps *publishStream) stored(subscribers int) string {
	ps.t.Helper()
	a := ps.ack()
	if a.ID == "" || a.Error != "" || a.Subscribers == nil || *a.Subscribers != subscribers {
		ps.t.Fatalf("ack %+v, want an id and %d subscribers", a, subscribers)
	}
	return a.ID
}

// refused checks the error ack of a line.
func (ps *publishStream) refused(line, status int, contains string) {
	ps.t.Helper()
	a := ps.ack()
	if a.ID != "" || a.Line != line || a.Status != status || !strings.Contains(a.Error, contains) {
		ps.t.Fatalf("ack %+v, want line %d refused with %d and %q", a, line, status, contains)
	}
}

// end closes the request body and checks that no ack is left.
func (ps *publishStream) end() {
	ps.t.Helper()
	ps.body.Close()
	select {
	case line, ok := <-ps.acks:
		if ok {
			ps.t.Fatalf("unexpected ack %q", line)
		}
	case <-time.After(10 * time.Second):
		ps.t.Fatal("the answer did not end after the body did")
	}
}

// subscribed opens a stream and reads its connected event.
func (s *testServer) subscribed(path string, header ...string) *stream {
	s.t.Helper()
	st := s.subscribe(path, header...)
	if ev := st.nextEvent(); ev.Name != "connected" {
		s.t.Fatalf("got %+v, want the connected event", ev)
	}
	return st
}

func ndjsonEvent(topic, data string) string {
	return fmt.Sprintf(`{"topic":%q,"data":%q}`+"\n", topic, data)
}

// streamSite is pubsubSite with room in each subscriber's queue for a
// stream's worth of events published flat out.
const streamSite = `
	sse /events {
		buffer 4096
	}
	sse /publish {
		publish
		max_event_size 1KiB
	}
`

func TestServerStreamingPublish(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, streamSite)
		st := s.subscribed("/events?topic=a")
		mark := s.mustPublish("/publish", `{"topic":"a","data":"mark"}`)
		if ev := st.nextEvent(); ev.ID != mark {
			t.Fatalf("got %+v, want the mark", ev)
		}
		ps := s.openPublishStream("/publish")
		if got := ps.resp.Header.Get("Content-Type"); ps.resp.StatusCode != http.StatusOK || got != "application/x-ndjson" {
			t.Fatalf("answer %d %q, want 200 application/x-ndjson", ps.resp.StatusCode, got)
		}
		// Each ack arrives while the body is still open.
		var ids []string
		ps.send(ndjsonEvent("a", "1"))
		ids = append(ids, ps.stored(1))
		ps.send("{\"topic\":\"a\",\"data\":\n")
		ps.refused(2, http.StatusBadRequest, "malformed JSON")
		ps.send(`{"topic":"a","data":"x","id":"mine"}` + "\r\n")
		ps.refused(3, http.StatusBadRequest, "unknown field")
		ps.send(ndjsonEvent("a", strings.Repeat("b", 2048)))
		ps.refused(4, http.StatusRequestEntityTooLarge, "max_event_size")
		ps.send(ndjsonEvent("a", strings.Repeat("c", 1<<20)))
		ps.refused(5, http.StatusRequestEntityTooLarge, "line is over 1048576 bytes")
		// Several lines at once, one bad among them, and an empty line.
		ps.send(ndjsonEvent("a", "2"), "\n", `{"data":"no topic"}`+"\n", ndjsonEvent("b", "3"), ndjsonEvent("a", "4"))
		ids = append(ids, ps.stored(1))
		ps.refused(8, http.StatusBadRequest, "no topic")
		ps.stored(0) // topic b: stored, no subscriber
		ids = append(ids, ps.stored(1))
		// The last line needs no newline.
		ps.send(`{"topic":"a","data":"5"}`)
		ps.body.Close()
		ids = append(ids, ps.stored(1))
		ps.end()

		for i, want := range []string{"1", "2", "4", "5"} {
			if ev := st.nextEvent(); ev.ID != ids[i] || ev.Data != want {
				t.Fatalf("event %d: got %+v, want id %s data %q", i, ev, ids[i], want)
			}
		}
		// Nothing refused was stored: the history after the mark holds the
		// good events of topic a, and the live stream nothing more.
		after := s.mustPublish("/publish", `{"topic":"a","data":"after"}`)
		if ev := st.nextEvent(); ev.ID != after {
			t.Fatalf("got %+v after the stream, want the event published after it", ev)
		}
		replay := s.subscribed("/events?topic=a", "Last-Event-ID", mark)
		for i, want := range []string{"1", "2", "4", "5", "after"} {
			if ev := replay.nextEvent(); ev.Data != want {
				t.Fatalf("replayed event %d: got %+v, want data %q", i, ev, want)
			}
		}
	})
}

func TestServerStreamingPublishManyLines(t *testing.T) {
	// More lines than one hub publish takes, written in one go: every line
	// is acked in order and reaches the subscriber in order.
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, streamSite)
		st := s.subscribed("/events?topic=a")
		ps := s.openPublishStream("/publish")
		const n = 2500
		var body strings.Builder
		for i := range n {
			body.WriteString(ndjsonEvent("a", fmt.Sprint(i)))
		}
		go func() { _, _ = io.WriteString(ps.body, body.String()); ps.body.Close() }()
		ids := make([]string, n)
		for i := range n {
			ids[i] = ps.stored(1)
		}
		ps.end()
		for i := range n {
			if ev := st.nextEvent(); ev.ID != ids[i] || ev.Data != fmt.Sprint(i) {
				t.Fatalf("event %d: got %+v, want id %s", i, ev, ids[i])
			}
		}
	})
}

func TestServerStreamingPublishJWT(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startJWTServer(t, path)
		// The token is checked once, before the answer starts.
		for _, tc := range []struct {
			name   string
			header []string
			status int
		}{
			{"no token", nil, http.StatusUnauthorized},
			{"bad token", []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
		} {
			ps := s.openPublishStream("/publish", tc.header...)
			if ps.resp.StatusCode != tc.status {
				t.Errorf("%s: status %d, want %d", tc.name, ps.resp.StatusCode, tc.status)
			}
		}
		// Topics are checked per line: a refused line is a 403 ack and the
		// stream goes on.
		st := s.subscribed("/events?topic=public/a&topic=public/b", "Authorization", "Bearer "+token(t, []string{"*"}, nil, nil))
		tok := token(t, nil, []string{"public/a"}, nil)
		ps := s.openPublishStream("/publish", "Authorization", "Bearer "+tok)
		ps.send(ndjsonEvent("public/a", "1"), ndjsonEvent("public/b", "2"), `{"connection":"someone","data":"3"}`+"\n", ndjsonEvent("public/a", "4"))
		first := ps.stored(1)
		ps.refused(2, http.StatusForbidden, `publishing to "public/b"`)
		ps.refused(3, http.StatusForbidden, "sending to a connection")
		last := ps.stored(1)
		ps.end()
		for _, want := range []string{first, last} {
			if ev := st.nextEvent(); ev.ID != want {
				t.Fatalf("got %+v, want %s", ev, want)
			}
		}
	})
}
