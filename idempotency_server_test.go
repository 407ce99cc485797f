package caddysse

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// postIdempotent POSTs a JSON publish with an Idempotency-Key and returns
// the status, the Idempotent-Replayed header and the body.
func (s *testServer) postIdempotent(path, key, body string) (int, string, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url(path), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(idempotencyHeader, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), string(raw)
}

// A publisher that retries a POST with the same Idempotency-Key (its
// answer was lost to a reload or a timeout) gets the first ack again, and
// subscribers get the event once; retries racing each other store one.
func TestServerIdempotentPublish(t *testing.T) {
	s := startServer(t, "sse /events\nsse /publish {\n\tpublish\n}")
	st := s.subscribe("/events?topic=orders")
	st.nextEvent() // connected

	status, replayed, first := s.postIdempotent("/publish", "order-42", `{"topic":"orders","data":"created"}`)
	if status != http.StatusOK || replayed != "" {
		t.Fatalf("first publish: %d %q %s", status, replayed, first)
	}
	status, replayed, again := s.postIdempotent("/publish", "order-42", `{"topic":"orders","data":"created"}`)
	if status != http.StatusOK || replayed != "true" || again != first {
		t.Fatalf("retry: %d replayed %q %s; want 200, true and the first ack %s", status, replayed, again, first)
	}

	// A batch: each event is keyed by the header and its index, so a
	// retried batch repeats each; an event may name the same key itself.
	batch := `[{"topic":"orders","data":"a"},{"topic":"orders","data":"b","idempotency_key":"bulk-7#1"}]`
	_, _, firstBatch := s.postIdempotent("/publish", "bulk-7", batch)
	if _, replayed, againBatch := s.postIdempotent("/publish", "bulk-7", batch); againBatch != firstBatch || replayed != "true" {
		t.Fatalf("batch retry %s (replayed %q), want %s", againBatch, replayed, firstBatch)
	}
	status, _, body := s.postIdempotent("/publish", "k", `{"topic":"orders","idempotency_key":"other"}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "disagree") {
		t.Fatalf("a key in the body that the header contradicts: %d %s, want 400", status, body)
	}

	// Racing retries.
	var wg sync.WaitGroup
	acks := make([]string, 16)
	for i := range acks {
		wg.Go(func() { _, _, acks[i] = s.postIdempotent("/publish", "race", `{"topic":"orders","data":"race"}`) })
	}
	wg.Wait()
	for _, a := range acks {
		if a != acks[0] {
			t.Fatalf("racing retries were answered differently: %q and %q", acks[0], a)
		}
	}

	// The subscriber saw each event once: created, a, b, race.
	var ack struct{ ID string }
	_ = json.Unmarshal([]byte(first), &ack)
	for i, want := range []string{"created", "a", "b", "race"} {
		ev := st.nextEvent()
		if ev.Data != want || (i == 0 && ev.ID != ack.ID) {
			t.Fatalf("event %d: %+v, want %q", i, ev, want)
		}
	}
	if status, out := s.publish("/publish", `{"topic":"orders","data":"after"}`); status != http.StatusOK {
		t.Fatal(status, out)
	}
	if ev := st.nextEvent(); ev.Data != "after" {
		t.Fatalf("a repeat reached the stream: %+v", ev)
	}
}

// idempotency 0 remembers no key: every publish is stored.
func TestServerIdempotencyOff(t *testing.T) {
	s := startServer(t, "sse /publish {\n\tpublish\n\tidempotency 0\n}")
	_, _, a := s.postIdempotent("/publish", "k", `{"topic":"t"}`)
	_, replayed, b := s.postIdempotent("/publish", "k", `{"topic":"t"}`)
	if a == b || replayed != "" {
		t.Fatalf("with idempotency 0 a repeated key was recognised: %s then %s", a, b)
	}
}

// A streaming publish keys each line with its own idempotency_key; a
// retried line is acked with the first id and not stored again.
func TestServerStreamingPublishIdempotent(t *testing.T) {
	s := startServer(t, "sse /events\nsse /publish {\n\tpublish\n}")
	st := s.subscribe("/events?topic=t")
	st.nextEvent() // connected
	ps := s.openPublishStream("/publish")
	line := `{"topic":"t","data":"one","idempotency_key":"line-1"}` + "\n"
	ps.send(line, line, ndjsonEvent("t", "two"))
	first, again := ps.stored(1), ps.stored(1)
	ps.stored(1)
	ps.end()
	if again != first {
		t.Fatalf("the retried line was acked %s, want the first ack %s", again, first)
	}
	for _, want := range []string{"one", "two"} {
		if ev := st.nextEvent(); ev.Data != want {
			t.Fatalf("got %+v, want %q once", ev, want)
		}
	}

	req, _ := http.NewRequest(http.MethodPost, s.url("/publish"), strings.NewReader(`{"topic":"t"}`+"\n"))
	req.Header.Set("Content-Type", ndjsonType)
	req.Header.Set(idempotencyHeader, "whole-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an Idempotency-Key header on a streaming publish: %d, want 400", resp.StatusCode)
	}
}
