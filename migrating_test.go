package caddysse

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestDocsMigrating runs each Caddyfile of docs/migrating.md as written
// and checks what the page says about it.
func TestDocsMigrating(t *testing.T) {
	raw, err := os.ReadFile("docs/migrating.md")
	if err != nil {
		t.Fatal(err)
	}
	sites := caddyfileSites(t, string(raw))
	if len(sites) != 3 {
		t.Fatalf("docs/migrating.md has %d Caddyfiles, want 3 (hand-written, Mercure, nchan)", len(sites))
	}

	t.Run("hand-written", func(t *testing.T) {
		s := startServer(t, sites[0])
		st := s.subscribe("/events") // no ?topic=: the route's topic
		if ev := st.nextEvent(); ev.Name != "connected" || !strings.Contains(ev.Data, `"topics":["broadcast"]`) {
			t.Fatalf("first event %+v, want connected to topic broadcast", ev)
		}
		status, out := s.publish("/broadcast", `{"topic":"broadcast","eventType":"price-update","message":{"sku":"A-1","price":9.5}}`)
		if status != http.StatusOK || out["subscribers"] != float64(1) {
			t.Fatalf("publish: %d %v, want 200 and 1 subscriber", status, out)
		}
		if ev := st.nextEvent(); ev.ID != out["id"] || ev.Name != "price-update" || ev.Data != `{"sku":"A-1","price":9.5}` {
			t.Fatalf("received %+v", ev)
		}
		for body, want := range map[string]int{
			`{"eventType":"price-update","message":"no topic"}`: http.StatusBadRequest,
			`{"topic":"broadcast","mesage":"misspelt"}`:         http.StatusBadRequest,
		} {
			if status, out := s.publish("/broadcast", body); status != want {
				t.Errorf("publish %s: %d %v, want %d", body, status, out, want)
			}
		}
	})

	t.Run("mercure", func(t *testing.T) {
		s := startServer(t, sites[1])
		st := s.subscribe("/.well-known/mercure?topic=" + url.QueryEscape("https://example.com/books/*"))
		st.nextEvent() // connected
		form := url.Values{"topic": {"https://example.com/books/1"}, "type": {"book-updated"}, "data": {`{"title":"Dune"}`}}
		resp, err := http.PostForm(s.url("/.well-known/mercure"), form)
		if err != nil {
			t.Fatal(err)
		}
		var ack publishResult
		err = json.NewDecoder(resp.Body).Decode(&ack)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || ack.Subscribers != 1 {
			t.Fatalf("Mercure-style form publish: %s, %+v, %v", resp.Status, ack, err)
		}
		if ev := st.nextEvent(); ev.ID != ack.ID || ev.Name != "book-updated" || ev.Data != `{"title":"Dune"}` {
			t.Fatalf("received %+v", ev)
		}
		for _, field := range []string{"id", "private"} {
			body := `{"topic":"https://example.com/books/1","data":"x","` + field + `":"1"}`
			if status, out := s.publish("/.well-known/mercure", body); status != http.StatusBadRequest {
				t.Errorf("JSON with Mercure's %q: %d %v, want 400", field, status, out)
			}
		}
		// A Mercure id does not resume: a reset, then live events.
		st2 := s.subscribe("/.well-known/mercure?topic=x&lastEventID=" + url.QueryEscape("urn:uuid:1b8e2f3c"))
		var names []string
		for range 2 {
			names = append(names, st2.nextEvent().Name)
		}
		if !slices.Contains(names, "reset") {
			t.Fatalf("resuming from a Mercure id gave %v, want a reset", names)
		}
	})

	t.Run("nchan", func(t *testing.T) {
		s := startServer(t, sites[2])
		st := s.subscribe("/sub/room1")
		if ev := st.nextEvent(); ev.Name != "connected" || !strings.Contains(ev.Data, `"topics":["room1"]`) {
			t.Fatalf("first event %+v, want connected to topic room1", ev)
		}
		resp, err := http.PostForm(s.url("/pub"), url.Values{"topic": {"room1"}, "data": {"hello, room 1"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("form publish: %s", resp.Status)
		}
		if ev := st.nextEvent(); ev.Data != "hello, room 1" {
			t.Fatalf("received %+v", ev)
		}
		if _, status := s.trySubscribe("/sub/"); status != http.StatusBadRequest {
			t.Errorf("a subscription without a channel: %d, want 400", status)
		}
		resp, err = http.Post(s.url("/pub"), "text/plain", strings.NewReader("raw nchan body"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("a raw text body: %s, want 415", resp.Status)
		}
	})
}

// caddyfileSites returns the body of the one site of each caddyfile code
// block in a Markdown text, for startServer.
func caddyfileSites(t *testing.T, md string) []string {
	t.Helper()
	var sites []string
	for _, chunk := range strings.Split(md, "```caddyfile\n")[1:] {
		block, _, ok := strings.Cut(chunk, "\n```")
		if !ok {
			t.Fatal("an unterminated caddyfile block")
		}
		lines := strings.Split(block, "\n")
		if lines[0] != ":8080 {" || lines[len(lines)-1] != "}" {
			t.Fatalf("a caddyfile block that is not one :8080 site:\n%s", block)
		}
		sites = append(sites, strings.Join(lines[1:len(lines)-1], "\n"))
	}
	return sites
}
