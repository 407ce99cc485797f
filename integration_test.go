package caddysse

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

const pubsubSite = `
	sse /events {
		retry 1500ms
	}
	sse /publish {
		publish
		max_event_size 1KiB
	}
`

func TestServerSubscribeAndPublish(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, pubsubSite)
		st := s.subscribe("/events?topic=orders&topic=news/*")
		for name, want := range map[string]string{
			"Content-Type":      "text/event-stream",
			"Cache-Control":     "no-cache, no-transform",
			"X-Accel-Buffering": "no",
			"Connection":        "",
		} {
			if got := st.resp.Header.Get(name); got != want {
				t.Errorf("header %s = %q, want %q", name, got, want)
			}
		}
		// The retry hint travels in the connected event's block, not in a
		// block of its own that some clients dispatch as an empty message.
		connected := st.next()
		if connected.Retry != "1500" {
			t.Errorf("the connected event should carry retry: 1500, got %+v", connected)
		}
		connected.Retry = ""
		var hello struct {
			Connection string
			Topics     []string
		}
		if err := json.Unmarshal([]byte(connected.Data), &hello); err != nil || connected.Name != "connected" || connected.ID != "" {
			t.Fatalf("want a connected event without id, got %+v (%v)", connected, err)
		}
		if strings.Join(hello.Topics, ",") != "news/*,orders" || hello.Connection == "" {
			t.Errorf("connected data = %s", connected.Data)
		}

		id := s.mustPublish("/publish", `{"topic":"orders","event":"order-created","data":"line one\r\nline two\nline three"}`)
		got := st.nextEvent()
		want := sseEvent{ID: id, Name: "order-created", Data: "line one\nline two\nline three"}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}

		// An array, JSON data, the aliases, a prefix selector, a topic nobody
		// subscribed to, and a form.
		resp, err := http.Post(s.url("/publish"), "application/json", strings.NewReader(
			`[{"topics":["news/uk","orders"],"type":"n","message":{"a":[1, 2]}},{"topic":"elsewhere","data":"x"}]`))
		if err != nil {
			t.Fatal(err)
		}
		var results []publishResult
		_ = json.NewDecoder(resp.Body).Decode(&results)
		resp.Body.Close()
		if len(results) != 2 || results[0].Subscribers != 1 || results[1].Subscribers != 0 || results[0].ID >= results[1].ID && len(results[0].ID) == len(results[1].ID) {
			t.Errorf("array publish answered %+v", results)
		}
		if got := st.nextEvent(); got != (sseEvent{ID: results[0].ID, Name: "n", Data: `{"a":[1,2]}`}) {
			t.Errorf("got %+v", got)
		}
		resp, err = http.PostForm(s.url("/publish"), map[string][]string{"topic": {"orders"}, "data": {"from a form"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := st.nextEvent(); got.Data != "from a form" || got.Name != "" {
			t.Errorf("form publish delivered %+v", got)
		}
	})
}

func TestServerErrors(t *testing.T) {
	s := startServer(t, pubsubSite)
	big := strings.Repeat("x", 2000)
	for _, tc := range []struct {
		name, method, path, contentType, body string
		status                                int
		allow                                 string
	}{
		{"no topic", "GET", "/events", "", "", 400, ""},
		{"bad selector", "GET", "/events?topic=a*b", "", "", 400, ""},
		{"empty topic", "GET", "/events?topic=", "", "", 400, ""},
		{"malformed JSON", "POST", "/publish", "application/json", `{"topic":`, 400, ""},
		{"unknown field", "POST", "/publish", "application/json", `{"topik":"a"}`, 400, ""},
		{"publish without topic", "POST", "/publish", "application/json", `{"data":"x"}`, 400, ""},
		{"CR in event name", "POST", "/publish", "application/json", `{"topic":"a","event":"x\rid: 9"}`, 400, ""},
		{"LF in topic", "POST", "/publish", "application/json", `{"topic":"a\nb","data":"x"}`, 400, ""},
		{"NUL in connection", "POST", "/publish", "application/json", `{"topic":"a","connection":"c\u0000"}`, 400, ""},
		{"invalid UTF-8", "POST", "/publish", "application/x-www-form-urlencoded", "topic=a&data=%ff%fe", 400, ""},
		{"too large", "POST", "/publish", "application/json", `{"topic":"a","data":"` + big + `"}`, 413, ""},
		{"text/plain", "POST", "/publish", "text/plain", "hello", 415, ""},
		{"no content type", "POST", "/publish", "", "hello", 415, ""},
		{"PUT", "PUT", "/publish", "application/json", "{}", 405, "GET, POST, OPTIONS"},
		{"POST to a subscribe route", "POST", "/events", "application/json", `{"topic":"a"}`, 405, "GET, OPTIONS"},
		{"DELETE", "DELETE", "/events", "", "", 405, "GET, OPTIONS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.url(tc.path), strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == "" {
				t.Errorf("want a JSON error body, got %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, body.Error, tc.status)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	// None of the refused publishes reached the history.
	resp, err := http.Get(s.url("/events?topic=*&last_event_id=x-0"))
	if err == nil {
		resp.Body.Close()
	}
	st := s.subscribe("/events?topic=a")
	st.nextEvent()
	id := s.mustPublish("/publish", `{"topic":"a","data":"ok"}`)
	if got := st.nextEvent(); got.ID != id || got.Data != "ok" {
		t.Errorf("after refused publishes the stream got %+v", got)
	}
	if !strings.HasSuffix(id, "-1") {
		t.Errorf("refused publishes took ids: the first accepted one is %s", id)
	}
}

func TestServerReplay(t *testing.T) {
	s := startServer(t, pubsubSite+`
	sse /short {
		hub short
		history 3
	}
	sse /short-publish {
		hub short
		publish
	}
`)
	var ids []string
	for i := range 5 {
		topic := "a"
		if i == 2 {
			topic = "b"
		}
		ids = append(ids, s.mustPublish("/publish", fmt.Sprintf(`{"topic":%q,"data":"%d"}`, topic, i)))
	}
	// Each resume gets events 1, 3 and 4 (2 is on another topic), then the
	// live events published by the subtests before it, then its own.
	want := []string{"1", "3", "4"}
	for _, tc := range []struct {
		name   string
		path   string
		header []string
	}{
		{"header", "/events?topic=a", []string{"Last-Event-ID", ids[0]}},
		{"query", "/events?topic=a&last_event_id=" + ids[0], nil},
		{"query alias", "/events?topic=a&lastEventID=" + ids[0], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.subscribe(tc.path, tc.header...)
			st.nextEvent() // connected
			live := tc.name
			id := s.mustPublish("/publish", fmt.Sprintf(`{"topic":"a","data":%q}`, live))
			want = append(want, live)
			var got []string
			for len(got) < len(want) {
				got = append(got, st.nextEvent().Data)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("resume gave %v, want %v", got, want)
			}
			_ = id
		})
	}

	t.Run("no id means no replay", func(t *testing.T) {
		st := s.subscribe("/events?topic=a")
		st.nextEvent() // connected
		id := s.mustPublish("/publish", `{"topic":"a","data":"now"}`)
		if got := st.nextEvent(); got.ID != id {
			t.Errorf("got %+v, want only the new event", got)
		}
	})

	head := s.mustPublish("/publish", `{"topic":"a","data":"head"}`)
	for _, tc := range []struct{ id, reason string }{
		{"garbage", "unknown"},
		{strings.Split(head, "-")[0] + "-99999", "unknown"},
		{"zzzzzz-1", "epoch"},
	} {
		t.Run("reset "+tc.reason, func(t *testing.T) {
			st := s.subscribe("/events?topic=a", "Last-Event-ID", tc.id)
			st.nextEvent() // connected
			reset := st.nextEvent()
			var data struct{ LastEventID, Reason string }
			_ = json.Unmarshal([]byte(reset.Data), &data)
			if reset.Name != "reset" || data.Reason != tc.reason || data.LastEventID != tc.id || reset.ID != head {
				t.Errorf("got %+v, want a reset event with reason %s and id %s", reset, tc.reason, head)
			}
		})
	}

	t.Run("reset expired", func(t *testing.T) {
		first := s.mustPublish("/short-publish", `{"topic":"a","data":"0"}`)
		for range 5 {
			s.mustPublish("/short-publish", `{"topic":"a","data":"later"}`)
		}
		st := s.subscribe("/short?topic=a", "Last-Event-ID", first)
		st.nextEvent()
		if reset := st.nextEvent(); reset.Name != "reset" || !strings.Contains(reset.Data, `"expired"`) {
			t.Errorf("got %+v, want reset expired", reset)
		}
	})
}

func TestServerResumeUnderLoad(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, pubsubSite)
		const n = 300
		var published []string
		var mu sync.Mutex
		st := s.subscribe("/events?topic=load")
		st.nextEvent() // connected
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				id := s.mustPublish("/publish", fmt.Sprintf(`{"topic":"load","data":"%d"}`, i))
				mu.Lock()
				published = append(published, id)
				mu.Unlock()
			}
		}()
		// Reconnect every 20 events with Last-Event-ID while publishing goes on.
		var got []string
		for len(got) < n {
			if len(got) > 0 {
				st = s.subscribe("/events?topic=load", "Last-Event-ID", got[len(got)-1])
				st.nextEvent() // connected
			}
			for i := 0; i < 20 && len(got) < n; i++ {
				got = append(got, st.nextEvent().ID)
			}
			st.close()
		}
		<-done
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(got, ",") != strings.Join(published, ",") {
			t.Errorf("a client resuming every 20 events got %d events, want the %d published exactly once in order", len(got), len(published))
		}
	})
}

func TestServerHeartbeat(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		for _, tc := range []struct {
			config string
			check  func(sseEvent) bool
		}{
			{"heartbeat 200ms", func(ev sseEvent) bool { return ev.Comment != "" || ev == (sseEvent{}) }},
			{"heartbeat 200ms event", func(ev sseEvent) bool { return ev.Name == "heartbeat" && ev.ID == "" }},
		} {
			t.Run(tc.config, func(t *testing.T) {
				s := startServerFor(t, path, "sse /events {\n"+tc.config+"\n}")
				st := s.subscribe("/events?topic=a")
				st.nextEvent() // connected
				for range 2 {
					if ev := st.next(); !tc.check(ev) {
						t.Errorf("got %+v, want a heartbeat", ev)
					}
				}
			})
		}
	})
}

func TestServerCORS(t *testing.T) {
	s := startServer(t, `
	sse /events {
		cors https://app.example
	}
	sse /publish {
		publish
		publish_origins https://any.example
		cors https://any.example credentials
	}
`)
	for _, tc := range []struct {
		path, origin, wantOrigin, wantMethods, wantCredentials string
	}{
		{"/events?topic=a", "https://app.example", "https://app.example", "GET, OPTIONS", ""},
		{"/events?topic=a", "https://evil.example", "", "", ""},
		{"/publish", "https://any.example", "https://any.example", "GET, POST, OPTIONS", "true"},
		{"/publish", "https://evil.example", "", "", ""},
	} {
		req, _ := http.NewRequest(http.MethodOptions, s.url(tc.path), nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "last-event-id")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != tc.wantOrigin ||
			h.Get("Access-Control-Allow-Methods") != tc.wantMethods || h.Get("Access-Control-Allow-Credentials") != tc.wantCredentials {
			t.Errorf("preflight from %s to %s: %d %v", tc.origin, tc.path, resp.StatusCode, h)
		}
		if tc.wantOrigin != "" && !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Last-Event-ID") {
			t.Errorf("preflight does not allow Last-Event-ID: %v", h)
		}
	}
	st := s.subscribe("/events?topic=a", "Origin", "https://app.example")
	if got := st.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("stream Access-Control-Allow-Origin = %q", got)
	}
}

func TestServerLimits(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, `
		sse /events {
			max_subscribers 3 per_ip 2
		}
		sse /one {
			hub other
			max_subscribers 1
		}
	`)
		a := s.subscribe("/events?topic=a")
		s.subscribe("/events?topic=a")
		if _, status := s.trySubscribe("/events?topic=a"); status != http.StatusTooManyRequests {
			t.Errorf("third stream from one IP: status %d, want 429", status)
		}
		s.subscribe("/one?topic=a")
		if _, status := s.trySubscribe("/one?topic=a"); status != http.StatusServiceUnavailable {
			t.Errorf("stream over max_subscribers: status %d, want 503", status)
		}
		// A closed stream gives its slot back.
		a.close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, status := s.trySubscribe("/events?topic=a")
			if status == http.StatusOK {
				st.close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("slot not released after the client left: %d", status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestServerRefusalsCarryRetryAfter(t *testing.T) {
	s := startServer(t, `
	sse /events {
		max_subscribers 1
	}
`)
	s.subscribe("/events?topic=a")
	resp, err := http.Get(s.url("/events?topic=a"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a full route answered %d with Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestServerConnectedEventOffAndOptions(t *testing.T) {
	s := startServer(t, `
	sse /events {
		connected_event off
	}
	sse /publish {
		publish
	}
`)
	st := s.subscribe("/events?topic=quiet")
	id := s.mustPublish("/publish", `{"topic":"quiet","data":"first"}`)
	if ev := st.nextEvent(); ev.ID != id || ev.Name != "" {
		t.Errorf("with connected_event off the first event was %+v, want the published one", ev)
	}

	req, _ := http.NewRequest(http.MethodOptions, s.url("/publish"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Allow") != "GET, POST, OPTIONS" {
		t.Errorf("OPTIONS answered %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestServerSlowSubscriber(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, `
		sse /events {
			buffer 8
			write_timeout 2s
		}
		sse /publish {
			publish
			max_event_size 100KiB
		}
	`)
		// A client that never reads: its buffers fill, then its queue.
		slow := s.openUnread(path, "/events?topic=big")
		defer slow.Close()
		fast := s.subscribe("/events?topic=big")
		fast.nextEvent()
		time.Sleep(200 * time.Millisecond) // let the slow client's subscription register

		payload := strings.Repeat("y", 90<<10)
		const n = 200
		for i := range n {
			s.mustPublish("/publish", fmt.Sprintf(`{"topic":"big","data":"%d %s"}`, i, payload))
			if got := fast.nextEvent(); !strings.HasPrefix(got.Data, fmt.Sprint(i, " ")) {
				t.Fatalf("fast subscriber got %.20q, want event %d", got.Data, i)
			}
		}
		// The slow client was disconnected: reading what it was sent ends
		// before the test gives up on it.
		start := time.Now()
		_, err := io.Copy(io.Discard, slow)
		if time.Since(start) > 15*time.Second {
			t.Errorf("slow client was not disconnected: %v", err)
		}
	})
}

func TestServerMaxDuration(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, "sse /events {\nmax_duration 500ms\n}")
		st := s.subscribe("/events?topic=a")
		st.ended(5 * time.Second)
	})
}

func TestServerPolling(t *testing.T) {
	s := startServer(t, pubsubSite)
	poll := func(query string) pollResponse {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.url("/events?"+query), nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out pollResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("poll %s: %d %v", query, resp.StatusCode, err)
		}
		return out
	}
	start := poll("topic=p")
	if len(start.Events) != 0 {
		t.Errorf("a first poll without id returned events: %+v", start)
	}
	id := s.mustPublish("/publish", `{"topic":"p","event":"e","data":"one"}`)
	got := poll("topic=p&last_event_id=" + start.LastEventID)
	if len(got.Events) != 1 || got.Events[0] != (pollEvent{ID: id, Event: "e", Topic: "p", Data: "one"}) || got.LastEventID != id {
		t.Errorf("poll after publish: %+v", got)
	}
	// Long-poll: the answer comes when the event is published.
	go func() {
		time.Sleep(300 * time.Millisecond)
		s.mustPublish("/publish", `{"topic":"p","data":"two"}`)
	}()
	got = poll("topic=p&wait=20&last_event_id=" + id)
	if len(got.Events) != 1 || got.Events[0].Data != "two" {
		t.Errorf("long-poll: %+v", got)
	}
	// An id from another run of the hub cannot be resumed from.
	got = poll("topic=p&last_event_id=zzzzzz-3")
	if got.Reset == nil || got.Reset.Reason != "epoch" || got.Reset.LastEventID != "zzzzzz-3" || len(got.Events) != 0 {
		t.Errorf("poll with a foreign id: %+v", got)
	}
}

func TestServerTopicTemplates(t *testing.T) {
	s := startServer(t, `
	sse /events {
		topic user/{http.request.header.X-User} broadcast
	}
	sse /publish {
		publish
	}
`)
	alice := s.subscribe("/events", "X-User", "alice")
	bob := s.subscribe("/events", "X-User", "bob")
	if ev := alice.nextEvent(); !strings.Contains(ev.Data, `"topics":["broadcast","user/alice"]`) {
		t.Errorf("connected: %s", ev.Data)
	}
	bob.nextEvent()
	s.mustPublish("/publish", `{"topic":"user/bob","data":"for bob"}`)
	s.mustPublish("/publish", `{"topic":"broadcast","data":"for all"}`)
	if ev := bob.nextEvent(); ev.Data != "for bob" {
		t.Errorf("bob got %+v", ev)
	}
	if ev := alice.nextEvent(); ev.Data != "for all" {
		t.Errorf("alice got %+v, want only the broadcast", ev)
	}
	if _, status := s.trySubscribe("/events"); status != http.StatusBadRequest {
		t.Errorf("template without a value: status %d, want 400", status)
	}
}

func TestServerTargeting(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, pubsubSite)
		a, b := s.subscribe("/events?topic=room"), s.subscribe("/events?topic=room")
		connID := func(st *stream) string {
			var hello struct{ Connection string }
			_ = json.Unmarshal([]byte(st.nextEvent().Data), &hello)
			return hello.Connection
		}
		idA, idB := connID(a), connID(b)
		s.mustPublish("/publish", fmt.Sprintf(`{"connection":%q,"data":"only a"}`, idA))
		s.mustPublish("/publish", fmt.Sprintf(`{"topic":"room","exclude":%q,"data":"not a"}`, idA))
		if ev := a.nextEvent(); ev.Data != "only a" {
			t.Errorf("a got %+v", ev)
		}
		if ev := b.nextEvent(); ev.Data != "not a" {
			t.Errorf("b got %+v", ev)
		}
		_ = idB
	})
}

func TestServerSharedHubAcrossSites(t *testing.T) {
	s := startServer(t, `
	sse /events {
		hub shared
	}
}
http://127.0.0.2:{port} {
	sse /publish {
		hub shared
		publish
	}
`)
	st := s.subscribe("/events?topic=t")
	st.nextEvent()
	resp, err := http.Post(strings.Replace(s.url("/publish"), "127.0.0.1", "127.0.0.2", 1), "application/json", strings.NewReader(`{"topic":"t","data":"across"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ev := st.nextEvent(); ev.Data != "across" {
		t.Errorf("got %+v", ev)
	}
}

// TestServerEncode: behind Caddy's encode, streams are sent uncompressed
// (with no-transform) unless compress is on, and events arrive either way.
func TestServerEncode(t *testing.T) {
	tests := []struct {
		name, compress string
		wantEncoding   string
		wantCache      string
	}{
		{"default is off", "", "", "no-cache, no-transform"},
		{"off", "compress off", "", "no-cache, no-transform"},
		{"on", "compress on", "gzip", "no-cache"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, `
	encode zstd gzip
	sse /events {
		`+tc.compress+`
	}
	sse /publish {
		publish
	}
`)
			req, _ := http.NewRequest(http.MethodGet, s.url("/events?topic=z"), nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); got != tc.wantEncoding {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.wantEncoding)
			}
			if got := resp.Header.Get("Cache-Control"); got != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tc.wantCache)
			}
			body := io.Reader(resp.Body)
			if tc.wantEncoding == "gzip" {
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			lines := bufio.NewScanner(body)
			id := s.mustPublish("/publish", `{"topic":"z","data":"through encode"}`)
			deadline := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
			defer deadline.Stop()
			for lines.Scan() {
				if lines.Text() == "id: "+id {
					return
				}
			}
			t.Errorf("the event did not come through encode: %v", lines.Err())
		})
	}
}

// TestServerCompressInvalid: a compress value other than the modes is
// refused when the config is validated, Caddyfile or JSON alike.
func TestServerCompressInvalid(t *testing.T) {
	out, err := runCaddy(t, "validate", `
	sse /events {
		compress maybe
	}
`)
	if err == nil || !strings.Contains(out, `compress \"maybe\": want off, gzip, zstd, auto or on`) && !strings.Contains(out, `compress "maybe": want off, gzip, zstd, auto or on`) {
		t.Errorf("want a validation error for compress maybe, got %v:\n%s", err, out)
	}
}

func TestServerConflictingHubSettings(t *testing.T) {
	out, err := runCaddy(t, "validate", `
	sse /a {
		history 10
	}
	sse /b {
		history 20
	}
`)
	if err == nil || !strings.Contains(out, "disagree on history: 10 and 20") {
		t.Errorf("want a validation error naming both values, got %v:\n%s", err, out)
	}
}

// runCaddy runs one Caddy subcommand on a Caddyfile with the given site.
func runCaddy(t *testing.T, command, site string) (string, error) {
	s := &testServer{t: t, dir: t.TempDir(), port: caddytest.FreePort(t), admin: "127.0.0.1:0"}
	cmd := exec.Command(caddytest.Binary(t), command, "--config", s.writeConfig(site), "--adapter", "caddyfile")
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestServerSlowThenRecovers: a subscriber that stops reading long enough
// for its socket to fill, but not for its queue, is not dropped; once it
// reads again it gets everything, and later events too, after its stalled
// write's deadline has long passed.
func TestServerSlowThenRecovers(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, `
		sse /events {
			buffer 1000
			write_timeout 4s
		}
		sse /publish {
			publish
			max_event_size 100KiB
		}
	`)
		body := s.openUnread(path, "/events?topic=stall")
		defer body.Close()
		time.Sleep(200 * time.Millisecond)

		payload := strings.Repeat("z", 90<<10)
		for i := range 60 { // about 5 MB: more than the socket buffers hold
			s.mustPublish("/publish", fmt.Sprintf(`{"topic":"stall","data":"%d %s"}`, i, payload))
		}
		time.Sleep(500 * time.Millisecond)
		found := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if sc.Text() == "data: after the stall" {
					close(found)
					return
				}
			}
		}()
		time.Sleep(5 * time.Second) // past write_timeout since the stalled write
		s.mustPublish("/publish", `{"topic":"stall","data":"after the stall"}`)
		select {
		case <-found:
		case <-time.After(10 * time.Second):
			t.Fatal("the subscriber that caught up did not get the next event")
		}
	})
}

// openUnread opens a stream whose body the test reads only when it wants:
// over HTTP/1.1 a raw connection (so the response is not read ahead into a
// client buffer), over h2c a request whose body is left alone. It is closed
// after 20 seconds at the latest.
func (s *testServer) openUnread(path, target string) io.ReadCloser {
	s.t.Helper()
	if path == pathDetached {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err != nil {
			s.t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", target)
		time.AfterFunc(20*time.Second, func() { conn.Close() })
		return conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	s.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url(target), nil)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.Body
}

func TestServerRejectsNegativeHistoryInJSON(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caddy.json")
	port := caddytest.FreePort(t)
	body := fmt.Sprintf(`{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:%d"],
		"routes":[{"handle":[{"handler":"sse","history":-1}]}]}}}}}`, port)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddytest.Binary(t), "validate", "--config", cfg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "history -1: must not be negative") {
		t.Errorf("want a clear error for a negative history, got %v:\n%s", err, out)
	}
}
