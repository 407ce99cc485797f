package redis

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-sse/caddy-sse/hub"
)

// hubOn starts a hub, as a node would, on the test's redis-server.
func hubOn(t *testing.T, r *redisServer) *hub.Hub {
	t.Helper()
	mod := &Transport{URL: r.url(), Stream: "hubs"}
	if err := mod.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{Name: "test", Retention: hub.Retention{History: 1000, Idempotency: time.Minute}}, mod, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// Clients that hop from node to node, resuming each time from the last
// event they got, while both nodes publish: each sees every event once, in
// order, without a reset. The replay (XRANGE on one node) and the live
// events (that node's reader) are merged by Seq.
func TestResumeOnAnotherNodeWhilePublishing(t *testing.T) {
	r := startRedis(t, false)
	nodes := []*hub.Hub{hubOn(t, r), hubOn(t, r)}
	const total, clients = 300, 8

	var published []string
	var pubMu sync.Mutex
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := range total {
			e := ev("t", fmt.Sprint(i))
			if err := nodes[i%2].Publish(context.Background(), []*hub.Event{e}); err != nil {
				t.Error(err)
				return
			}
			pubMu.Lock()
			published = append(published, e.ID)
			pubMu.Unlock()
		}
	}()

	var wg sync.WaitGroup
	got := make([][]string, clients)
	for c := range clients {
		wg.Go(func() {
			var seen []string
			last := ""
			for hop := 0; ; hop++ {
				h := nodes[(c+hop)%2]
				s := hub.NewSubscriber(fmt.Sprintf("c%d-%d", c, hop), []string{"t"}, 4096, time.Now())
				sub, err := h.Subscribe(context.Background(), s, last)
				if err != nil {
					t.Error(err)
					return
				}
				if sub.Reset != "" {
					t.Errorf("client %d, hop %d: reset %q resuming from %q", c, hop, sub.Reset, last)
					h.Unsubscribe(s)
					return
				}
				seen = append(seen, ids(sub.Replay)...)
				deadline := time.Now().Add(time.Duration(20+5*c) * time.Millisecond)
				for time.Now().Before(deadline) {
					seen = append(seen, ids(s.Take(nil).Events)...)
					time.Sleep(2 * time.Millisecond)
				}
				h.Unsubscribe(s)
				seen = append(seen, ids(s.Take(nil).Events)...)
				if len(seen) > 0 {
					last = seen[len(seen)-1]
				}
				select {
				case <-pubDone:
					if len(seen) >= total {
						got[c] = seen
						return
					}
				default:
				}
				if hop > 2000 {
					t.Errorf("client %d: %d events after %d hops", c, len(seen), hop)
					return
				}
			}
		})
	}
	wg.Wait()
	<-pubDone
	for c, seen := range got {
		if seen != nil && !slices.Equal(seen, published) {
			t.Errorf("client %d saw %d events, want the %d published once each, in order", c, len(seen), len(published))
		}
	}
}
