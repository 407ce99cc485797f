package caddysse

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// The operator surface through a real Caddy: /metrics and the admin API
// on the admin endpoint, placeholders in access logs and headers, and the
// log line of a detached stream's end.

// scrape reads Caddy's /metrics from the admin endpoint: every sample of a
// caddy_sse_ metric, by its name and labels as printed.
func (s *testServer) scrape() map[string]float64 {
	s.t.Helper()
	resp, err := http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /metrics: %s", resp.Status)
	}
	samples := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_sse_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			s.t.Fatalf("metric line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// waitMetric scrapes until the sample has the value, failing after a while.
func (s *testServer) waitMetric(sample string, want float64) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, ok := s.scrape()[sample]
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s = %v (present %v), want %v", sample, got, ok, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adminDo sends a request to the admin endpoint and decodes its JSON answer.
func (s *testServer) adminDo(method, path, contentType, body string) (int, http.Header, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.admin+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if method != http.MethodGet && strings.HasPrefix(path, "/config/") {
		s.dropIdleConnections()
	}
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, resp.Header, out
}

func connectionID(t *testing.T, st *stream) string {
	t.Helper()
	ev := st.nextEvent()
	var data struct{ Connection string }
	if ev.Name != "connected" || json.Unmarshal([]byte(ev.Data), &data) != nil || data.Connection == "" {
		t.Fatalf("first event %+v, want connected", ev)
	}
	return data.Connection
}

func TestServerMetrics(t *testing.T) {
	s := startServer(t, `
		sse /events {
			buffer 8
			write_timeout 2s
		}
		sse /publish {
			publish
			max_event_size 100KiB
		}
	`)
	const hub = `{hub="default"}`
	m := s.scrape()
	for _, name := range []string{"caddy_sse_subscribers", "caddy_sse_connections_total", "caddy_sse_events_published_total",
		"caddy_sse_events_delivered_total", "caddy_sse_events_replayed_total", "caddy_sse_transport_up"} {
		want := 0.0
		if name == "caddy_sse_transport_up" {
			want = 1
		}
		if got, ok := m[name+hub]; !ok || got != want {
			t.Errorf("before any traffic %s = %v (present %v), want %v", name, got, ok, want)
		}
	}

	st := s.subscribe("/events?topic=a")
	st.nextEvent()
	first := s.mustPublish("/publish", `{"topic":"a","data":"1"}`)
	st.nextEvent()
	s.mustPublish("/publish", `{"topic":"a","data":"2"}`)
	st.nextEvent()
	if status, _ := s.publish("/publish", `{"data":"no topic"}`); status != http.StatusBadRequest {
		t.Fatalf("publish without topic: %d, want 400", status)
	}
	if status, _ := s.publish("/publish", `{"topic":"a","data":"`+strings.Repeat("x", 101<<10)+`"}`); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized publish: %d, want 413", status)
	}
	m = s.scrape()
	for sample, want := range map[string]float64{
		"caddy_sse_subscribers" + hub:                                        1,
		"caddy_sse_connections_total" + hub:                                  1,
		"caddy_sse_events_published_total" + hub:                             2,
		"caddy_sse_events_delivered_total" + hub:                             2,
		`caddy_sse_publish_errors_total{hub="default",status="400"}`:         1,
		`caddy_sse_publish_errors_total{hub="default",status="413"}`:         1,
		"caddy_sse_publish_duration_seconds_count" + hub:                     4,
		`caddy_sse_publish_duration_seconds_bucket{hub="default",le="+Inf"}`: 4,
	} {
		if got, ok := m[sample]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", sample, got, ok, want)
		}
	}

	// A resume replays from history; a garbage id gets a reset.
	resumed := s.subscribe("/events?topic=a", "Last-Event-ID", first)
	resumed.nextEvent()
	if ev := resumed.nextEvent(); ev.Data != "2" {
		t.Fatalf("replay: %+v, want event 2", ev)
	}
	reset := s.subscribe("/events?topic=a", "Last-Event-ID", "garbage")
	reset.nextEvent()
	if ev := reset.nextEvent(); ev.Name != "reset" {
		t.Fatalf("garbage id: %+v, want a reset", ev)
	}
	m = s.scrape()
	for sample, want := range map[string]float64{
		"caddy_sse_subscribers" + hub:                                            3,
		"caddy_sse_connections_total" + hub:                                      3,
		"caddy_sse_events_replayed_total" + hub:                                  1,
		`caddy_sse_resets_total{hub="default",reason="unknown"}`:                 1,
		`caddy_sse_resets_total{hub="default",reason="expired"}`:                 0,
		`caddy_sse_subscribers_dropped_total{hub="default",reason="queue_full"}`: 0,
	} {
		if got, ok := m[sample]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", sample, got, ok, want)
		}
	}

	// Leaving lowers the gauge and drops nothing.
	resumed.close()
	reset.close()
	s.waitMetric("caddy_sse_subscribers"+hub, 1)

	// A client that never reads is dropped once its queue is full.
	slow := s.openUnread(pathDetached, "/events?topic=big")
	defer slow.Close()
	s.waitMetric("caddy_sse_subscribers"+hub, 2)
	payload := strings.Repeat("y", 90<<10)
	for i := range 200 {
		s.mustPublish("/publish", fmt.Sprintf(`{"topic":"big","data":"%d %s"}`, i, payload))
	}
	s.waitMetric("caddy_sse_subscribers"+hub, 1)
	m = s.scrape()
	dropped := m[`caddy_sse_subscribers_dropped_total{hub="default",reason="queue_full"}`] +
		m[`caddy_sse_subscribers_dropped_total{hub="default",reason="write_failed"}`]
	if dropped != 1 {
		t.Errorf("dropped (queue_full + write_failed) = %v, want 1", dropped)
	}
}

func TestServerAdminAPI(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, `
			sse /events
			sse /other/events {
				hub other
			}
		`)
		a := s.subscribe("/events?topic=a&topic=b")
		idA := connectionID(t, a)
		b := s.subscribe("/events?topic=a")
		idB := connectionID(t, b)
		s.subscribe("/other/events?topic=x").nextEvent()

		// Publish through the admin API, with a publish route's answers.
		status, _, out := s.adminDo(http.MethodPost, "/sse/hubs/default/publish", "application/json", `{"topic":"a","data":"hello"}`)
		if status != http.StatusOK || out["subscribers"] != 2.0 || out["id"] == "" {
			t.Fatalf("admin publish: %d %v", status, out)
		}
		lastID := out["id"].(string)
		for _, st := range []*stream{a, b} {
			if ev := st.nextEvent(); ev.Data != "hello" || ev.ID != lastID {
				t.Fatalf("after admin publish got %+v", ev)
			}
		}
		for _, tc := range []struct {
			name, contentType, body string
			status                  int
		}{
			{"no topic", "application/json", `{"data":"x"}`, http.StatusBadRequest},
			{"unknown field", "application/json", `{"topic":"a","dta":"x"}`, http.StatusBadRequest},
			{"wildcard topic", "application/json", `{"topic":"a/*","data":"x"}`, http.StatusBadRequest},
			{"text body", "text/plain", `hello`, http.StatusUnsupportedMediaType},
		} {
			status, _, out := s.adminDo(http.MethodPost, "/sse/hubs/default/publish", tc.contentType, tc.body)
			if msg, _ := out["error"].(string); status != tc.status || msg == "" {
				t.Errorf("admin publish, %s: %d %v; want %d with an error", tc.name, status, out, tc.status)
			}
		}

		// The hubs, with their busiest topics.
		status, _, out = s.adminDo(http.MethodGet, "/sse/hubs", "", "")
		if status != http.StatusOK {
			t.Fatalf("GET /sse/hubs: %d %v", status, out)
		}
		var hubs struct{ Hubs []hubReport }
		remarshal(t, out, &hubs)
		if len(hubs.Hubs) != 2 || hubs.Hubs[0].Name != "default" || hubs.Hubs[1].Name != "other" {
			t.Fatalf("hubs: %+v", hubs.Hubs)
		}
		def := hubs.Hubs[0]
		wantTopics := []hub.TopicCount{{Topic: "a", Subscribers: 2}, {Topic: "b", Subscribers: 1}}
		if def.Subscribers != 2 || !slices.Equal(def.Topics, wantTopics) || def.DistinctTopics != 2 ||
			def.Published != 1 || def.Delivered != 2 || def.History != 1 || def.LastID != lastID || !def.Transport.Up {
			t.Errorf("default hub: %+v", def)
		}
		if other := hubs.Hubs[1]; other.Subscribers != 1 || other.Published != 0 {
			t.Errorf("other hub: %+v", other)
		}
		status, _, out = s.adminDo(http.MethodGet, "/sse/hubs?topics=1", "", "")
		remarshal(t, out, &hubs)
		if status != http.StatusOK || !slices.Equal(hubs.Hubs[0].Topics, wantTopics[:1]) {
			t.Errorf("?topics=1: %d %+v", status, hubs.Hubs)
		}

		// Subscribers, paged in the order they joined.
		var page subscriberPage
		status, _, out = s.adminDo(http.MethodGet, "/sse/hubs/default/subscribers?limit=1", "", "")
		remarshal(t, out, &page)
		wantPath := "detached"
		if path == pathGoroutine {
			wantPath = "goroutine"
		}
		if status != http.StatusOK || len(page.Subscribers) != 1 || page.Next == "" {
			t.Fatalf("first page: %d %+v", status, out)
		}
		if got := page.Subscribers[0]; got.ID != idA || !slices.Equal(got.Topics, []string{"a", "b"}) ||
			got.RemoteAddr == "" || got.Path != wantPath || time.Since(got.ConnectedAt) > time.Minute || got.LastWrite.Before(got.ConnectedAt) {
			t.Errorf("first subscriber: %+v", got)
		}
		status, _, out = s.adminDo(http.MethodGet, "/sse/hubs/default/subscribers?limit=1&after="+page.Next, "", "")
		page = subscriberPage{}
		remarshal(t, out, &page)
		if status != http.StatusOK || len(page.Subscribers) != 1 || page.Subscribers[0].ID != idB || page.Next != "" {
			t.Fatalf("second page: %d %+v", status, out)
		}
		_, _, out = s.adminDo(http.MethodGet, "/sse/hubs/default/subscribers?topic=b", "", "")
		page = subscriberPage{}
		remarshal(t, out, &page)
		if len(page.Subscribers) != 1 || page.Subscribers[0].ID != idA {
			t.Errorf("?topic=b: %+v", out)
		}

		for _, tc := range []struct {
			method, path string
			status       int
		}{
			{http.MethodGet, "/sse/hubs/nope/subscribers", http.StatusNotFound},
			{http.MethodGet, "/sse/hubs/default/subscribers?limit=0", http.StatusBadRequest},
			{http.MethodGet, "/sse/hubs/default/subscribers?after=x", http.StatusBadRequest},
			{http.MethodGet, "/sse/hubs?topics=-1", http.StatusBadRequest},
			{http.MethodGet, "/sse/hubs/default/nothing", http.StatusNotFound},
			{http.MethodGet, "/sse/hubs/default/publish", http.StatusMethodNotAllowed},
			{http.MethodPost, "/sse/hubs", http.StatusMethodNotAllowed},
			{http.MethodDelete, "/sse/hubs/default/subscribers/unknown", http.StatusNotFound},
		} {
			status, hdr, out := s.adminDo(tc.method, tc.path, "", "")
			if msg, _ := out["error"].(string); status != tc.status || msg == "" {
				t.Errorf("%s %s: %d %v; want %d with an error", tc.method, tc.path, status, out, tc.status)
			}
			if tc.status == http.StatusMethodNotAllowed && hdr.Get("Allow") == "" {
				t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
			}
		}

		// Disconnecting one subscriber ends its stream only.
		status, _, out = s.adminDo(http.MethodDelete, "/sse/hubs/default/subscribers/"+idA, "", "")
		if status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %v", status, out)
		}
		a.ended(10 * time.Second)
		s.waitMetric(`caddy_sse_subscribers_dropped_total{hub="default",reason="admin"}`, 1)
		s.mustAdminPublish("default", `{"topic":"a","data":"still here"}`)
		if ev := b.nextEvent(); ev.Data != "still here" {
			t.Fatalf("the other subscriber got %+v", ev)
		}
	})
}

func (s *testServer) mustAdminPublish(hub, body string) {
	s.t.Helper()
	if status, _, out := s.adminDo(http.MethodPost, "/sse/hubs/"+hub+"/publish", "application/json", body); status != http.StatusOK {
		s.t.Fatalf("admin publish: %d %v", status, out)
	}
}

func remarshal(t *testing.T, from, to any) {
	t.Helper()
	raw, err := json.Marshal(from)
	if err == nil {
		err = json.Unmarshal(raw, to)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestServerHealth(t *testing.T) {
	s := startServer(t, "sse /events")
	status, _, out := s.adminDo(http.MethodGet, "/sse/health", "", "")
	hubs, _ := out["hubs"].(map[string]any)
	if status != http.StatusOK || out["status"] != "ok" || hubs["default"] != "up" {
		t.Fatalf("health: %d %v", status, out)
	}
	if status, _, _ := s.adminDo(http.MethodPost, "/sse/health", "", ""); status != http.StatusMethodNotAllowed {
		t.Fatalf("POST health: %d, want 405", status)
	}
}

// TestServerPlaceholders runs the README's example as written.
func TestServerPlaceholders(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, readmeSite(t, "placeholders"))
		// The example's access log goes to the default log, which the test
		// server keeps at WARN.
		if status, _, out := s.adminDo(http.MethodPatch, "/config/logging/logs/default/level", "application/json", `"INFO"`); status != http.StatusOK {
			t.Fatalf("setting the log level: %d %v", status, out)
		}
		st := s.subscribe("/events?topic=b&topic=a")
		id := connectionID(t, st)
		hdr := st.resp.Header
		if hdr.Get("X-SSE-Connection") != id || hdr.Get("X-SSE-Hub") != "default" {
			t.Errorf("headers %v; want connection %s, hub default", hdr, id)
		}
		// A goroutine stream's access log entry is written when it ends.
		st.close()
		want := []string{fmt.Sprintf(`"sse_connection":%q`, id), `"sse_topics":"a,b"`}
		deadline := time.Now().Add(10 * time.Second)
		for !accessLogged(s.logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no access log with %s:\n%s", want, s.logs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// accessLogged reports whether one access log line holds all of want.
func accessLogged(logs string, want []string) bool {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"handled request"`) && !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(line, w) }) {
			return true
		}
	}
	return false
}

// logEntry is one line of the module's JSON log.
type logEntry struct {
	Level, Msg, Hub, Connection, Reason, Path, Error string
	RemoteAddr                                       string `json:"remote_addr"`
	Topics                                           []string
	Events, Bytes                                    int
	Duration                                         float64
	TimedOut                                         *bool `json:"timed_out"`
	raw                                              string
}

// waitLog waits for a log line with msg that match accepts.
func waitLog(t *testing.T, s *testServer, msg string, match func(logEntry) bool) logEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(s.logs.String(), "\n") {
			var e logEntry
			if json.Unmarshal([]byte(line), &e) != nil || e.Msg != msg {
				continue
			}
			e.raw = line
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged as wanted:\n%s", msg, s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServerStreamLogged(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, `
			sse /events {
				buffer 2
			}
			sse /publish {
				publish
			}
		`)
		// The module logs streams at debug level: an operator turns that on
		// for it alone.
		status, _, out := s.adminDo(http.MethodPost, "/config/logging/logs/sse", "application/json",
			`{"level":"DEBUG","include":["http.handlers.sse"],"writer":{"output":"stderr"},"encoder":{"format":"json"}}`)
		if status != http.StatusOK {
			t.Fatalf("adding a debug log: %d %v", status, out)
		}
		served := servedDetached
		if path == pathGoroutine {
			served = servedGoroutine
		}

		st := s.subscribe("/events?topic=a")
		id := connectionID(t, st)
		opened := waitLog(t, s, "stream opened", func(e logEntry) bool { return e.Connection == id })
		if opened.Level != "debug" || opened.Path != served || opened.Hub != "default" || opened.RemoteAddr == "" || !slices.Equal(opened.Topics, []string{"a"}) {
			t.Errorf("stream opened logged as %s", opened.raw)
		}
		s.mustPublish("/publish", `{"topic":"a","data":"payload-one"}`)
		s.mustPublish("/publish", `{"topic":"a","data":"payload-two"}`)
		st.nextEvent()
		st.nextEvent()
		st.close()
		ended := waitLog(t, s, "stream ended", func(e logEntry) bool { return e.Connection == id })
		if ended.Level != "debug" || ended.Path != served || ended.Events != 2 || ended.Bytes <= 0 ||
			ended.Reason != string(hub.ReasonClientGone) || ended.Duration <= 0 || ended.RemoteAddr == "" {
			t.Errorf("stream end logged as %s", ended.raw)
		}
		if strings.Contains(s.logs.String(), "payload-") {
			t.Errorf("event data was logged:\n%s", s.logs)
		}
		if strings.Contains(s.logs.String(), `"stream dropped"`) {
			t.Errorf("a client that left was logged as dropped:\n%s", s.logs)
		}

		// A client that stops reading is dropped: its queue fills, or a
		// write to it fails or times out. That is a warning.
		slow := s.openUnread(path, "/events?topic=big")
		defer slow.Close()
		waitLog(t, s, "stream opened", func(e logEntry) bool { return slices.Equal(e.Topics, []string{"big"}) })
		payload := strings.Repeat("y", 60<<10)
		for i := range 200 {
			s.mustPublish("/publish", fmt.Sprintf(`{"topic":"big","data":"secret-%d %s"}`, i, payload))
		}
		dropped := waitLog(t, s, "stream dropped", func(logEntry) bool { return true })
		if dropped.Level != "warn" || dropped.Path != served || dropped.RemoteAddr == "" || dropped.Connection == "" ||
			(dropped.Reason != string(hub.ReasonQueueFull) && dropped.Reason != string(hub.ReasonWriteFailed)) {
			t.Errorf("drop logged as %s", dropped.raw)
		}
		if dropped.Reason == string(hub.ReasonWriteFailed) && (dropped.Error == "" || dropped.TimedOut == nil) {
			t.Errorf("a failed write is logged without its error: %s", dropped.raw)
		}
		if strings.Contains(dropped.raw, "secret-") {
			t.Errorf("the drop carries event data: %s", dropped.raw)
		}
		waitLog(t, s, "stream ended", func(e logEntry) bool { return e.Connection == dropped.Connection && e.Reason == dropped.Reason })
	})
}
