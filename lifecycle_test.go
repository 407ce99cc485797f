package caddysse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServerReload publishes without pause while the config is reloaded
// under a subscriber: its stream ends within seconds with a short retry
// hint, and after resuming with Last-Event-ID it has every event exactly
// once, in order.
func TestServerReload(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, pubsubSite)
		st := s.subscribe("/events?topic=r")
		st.nextEvent() // connected

		// A new connection for each publish: a kept-alive one may be closed by
		// the old config between requests, leaving it unknown whether the
		// event was taken.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var mu sync.Mutex
		var published []string
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(s.url("/publish"), "application/json", strings.NewReader(fmt.Sprintf(`{"topic":"r","data":"%d"}`, i)))
				if err != nil {
					// Caddy resets connections that the old server accepted
					// as it shut down, before reading them; try again.
					t.Logf("publish during reload: %v", err)
					continue
				}
				var out publishResult
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("publish during reload: %d %v", resp.StatusCode, err)
					return
				}
				mu.Lock()
				published = append(published, out.ID)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()

		time.Sleep(300 * time.Millisecond)
		s.reload(strings.Replace(pubsubSite, "retry 1500ms", "retry 1s\nheartbeat 10s", 1))

		var got []string
		for _, ev := range st.ended(10 * time.Second) {
			if ev.ID != "" {
				got = append(got, ev.ID)
			}
		}
		// The hint is the stream's last line, with no blank line after it:
		// applied when read, never dispatched as an empty message.
		ms := 0
		fmt.Sscan(st.retry(), &ms)
		if ms <= 0 || ms > 2000 || !strings.HasSuffix(st.raw.String(), "\nretry: "+st.retry()+"\n") {
			t.Errorf("the stream ended by the reload carried no short retry hint:\n%s", st.raw)
		}
		if len(got) == 0 {
			t.Fatal("no event arrived before the reload")
		}
		// Resume on the new config while publishing goes on, then stop it.
		// A subscription that still reaches the stopping old config gets an
		// empty stream with a retry hint: try again, as a client would.
		var resumed *stream
		for resumed == nil {
			st, _ := s.trySubscribe("/events?topic=r", "Last-Event-ID", got[len(got)-1])
			if st == nil {
				continue
			}
			select {
			case ev, ok := <-st.events:
				if ok && ev.Name == "connected" {
					resumed = st
					break
				}
				st.close()
			case <-time.After(10 * time.Second):
				t.Fatalf("no connected event within 10s; the stream carried:\n%s", st.raw)
			}
		}
		time.Sleep(300 * time.Millisecond)
		close(stop)
		<-done
		mu.Lock()
		want := append([]string(nil), published...)
		mu.Unlock()
		for len(got) < len(want) {
			ev := resumed.nextEvent()
			if ev.Name == "connected" {
				continue
			}
			if ev.Name == "reset" {
				t.Fatalf("resume after reload was reset: %s", ev.Data)
			}
			got = append(got, ev.ID)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("across the reload the client got\n%v\nwant\n%v", got, want)
		}
	})
}

// TestServerStop stops Caddy through the admin API with a thousand streams
// open: it must exit promptly rather than wait for the streams forever.
func TestServerStop(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		s := startServerFor(t, path, pubsubSite)
		const n = 1000
		var streams []*stream
		for range n {
			streams = append(streams, s.subscribe("/events?topic=s"))
		}
		streams[n-1].nextEvent()
		start := time.Now()
		resp, err := http.Post("http://"+s.admin+"/stop", "", nil)
		if err == nil {
			resp.Body.Close()
		}
		select {
		case <-s.exited:
			if s.waitErr != nil {
				t.Errorf("caddy exited with %v", s.waitErr)
			}
			t.Logf("caddy stopped in %s with %d streams open", time.Since(start), len(streams))
		case <-time.After(15 * time.Second):
			t.Fatalf("caddy did not stop within 15s with streams open:\n%s", s.logs)
		}
		for _, st := range streams {
			st.ended(5 * time.Second)
		}
	})
}
