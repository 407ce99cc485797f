package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// The cluster tests: two Caddy processes sharing one redis-server.

const clusterSSE = `		heartbeat 1s
		transport redis {redis} {
			stream cluster
		}`

func TestClusterTwoNodes(t *testing.T) {
	r := startRedis(t, false)
	a, b := startCaddy(t, r, clusterSSE), startCaddy(t, r, clusterSSE)

	t.Run("publish on A, receive on B with the acked id", func(t *testing.T) {
		onB := b.subscribe("news", "")
		id := a.mustPublish("news", "hello")
		if e := onB.next(); e.id != id || e.data != "hello" {
			t.Fatalf("B got %+v, want id %q", e, id)
		}
	})

	t.Run("alternating publishes arrive in the same order on both", func(t *testing.T) {
		onA, onB := a.subscribe("order", ""), b.subscribe("order", "")
		var acked []string
		for i := range 10 {
			n := []*caddyNode{a, b}[i%2]
			acked = append(acked, n.mustPublish("order", fmt.Sprint(i)))
		}
		for name, st := range map[string]*sseStream{"A": onA, "B": onB} {
			var got []string
			for range acked {
				got = append(got, st.next().id)
			}
			if !slices.Equal(got, acked) {
				t.Errorf("%s received %v, want the acked order %v", name, got, acked)
			}
		}
	})

	t.Run("a client that read on A resumes on B", func(t *testing.T) {
		onA := a.subscribe("resume", "")
		var acked []string
		for i := range 6 {
			acked = append(acked, []*caddyNode{a, b}[i%2].mustPublish("resume", fmt.Sprint(i)))
		}
		var last string
		for range 3 {
			last = onA.next().id
		}
		onA.body.Close()
		onB := b.subscribe("resume", last)
		live := a.mustPublish("resume", "live")
		want := append(acked[3:], live)
		for _, id := range want {
			if e := onB.next(); e.id != id {
				t.Fatalf("resumed on B: got %+v, want %q (then %v)", e, id, want)
			}
		}
		if e, quiet := onB.quiet(300 * time.Millisecond); !quiet {
			t.Errorf("after the resume, an extra event: %+v", e)
		}
	})
}

func TestClusterRedisCrash(t *testing.T) {
	r := startRedis(t, true)
	a, b := startCaddy(t, r, clusterSSE), startCaddy(t, r, clusterSSE)
	subs := []*sseStream{a.subscribe("steady", ""), b.subscribe("steady", "")}

	var (
		mu          sync.Mutex
		acked       []string
		unavailable int
		badRefusal  []publishResult
	)
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
			res := []*caddyNode{a, b}[i%2].publish("steady", fmt.Sprint(i))
			mu.Lock()
			switch {
			case res.status == http.StatusOK:
				acked = append(acked, res.id)
			case res.status == http.StatusServiceUnavailable && res.err != "" && res.retryAfter != "":
				unavailable++
			default:
				badRefusal = append(badRefusal, res)
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitUntil(t, "20 acks before the crash", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 20 })
	r.kill()
	waitUntil(t, "publishes refused with 503 while redis is down", func() bool { mu.Lock(); defer mu.Unlock(); return unavailable >= 5 })
	// Meanwhile a client resuming from an older id learns that the node
	// cannot replay, and one without an id is served.
	mu.Lock()
	older := acked[0]
	mu.Unlock()
	resumed := b.subscribe("steady", older)
	var data struct{ Reason string }
	if e := resumed.next(); e.name != "reset" || json.Unmarshal([]byte(e.data), &data) != nil || data.Reason != "unknown" {
		t.Errorf("resuming while redis is down: %+v, want a reset (unknown)", e)
	}
	b.subscribe("steady", "")
	r.restart()
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	waitUntil(t, "20 acks after the restart", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= before+20 })
	close(stop)
	<-done
	if len(badRefusal) > 0 {
		t.Errorf("publishes answered other than 200 or 503 with a JSON error and Retry-After: %+v", badRefusal)
	}
	for i, st := range subs {
		seen := make(map[string]bool)
		var got []string
		for len(got) < len(acked) || !containsAll(seen, acked) {
			e := st.next()
			if seen[e.id] {
				t.Fatalf("subscriber %d got %s twice", i, e.id)
			}
			seen[e.id] = true
			got = append(got, e.id)
		}
		if e, quiet := st.quiet(300 * time.Millisecond); !quiet && seen[e.id] {
			t.Errorf("subscriber %d got %s twice", i, e.id)
		}
		for j, id := range got[1:] {
			if !idBefore(got[j], id) {
				t.Errorf("subscriber %d: %s after %s", i, id, got[j])
			}
		}
	}
}

func containsAll(seen map[string]bool, ids []string) bool {
	for _, id := range ids {
		if !seen[id] {
			return false
		}
	}
	return true
}

func idBefore(a, b string) bool {
	_, x, _ := parseID(a)
	_, y, _ := parseID(b)
	return y.after(x)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterFlushedRedis(t *testing.T) {
	r := startRedis(t, false)
	a, b := startCaddy(t, r, clusterSSE), startCaddy(t, r, clusterSSE)
	open := b.subscribe("f", "")
	old := a.mustPublish("f", "before")
	if e := open.next(); e.id != old {
		t.Fatalf("B got %+v, want %s", e, old)
	}
	if err := r.client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// A stream open across the flush goes on with the new epoch's events.
	after := a.mustPublish("f", "after")
	if e := open.next(); e.id != after {
		t.Fatalf("the open stream got %+v, want %s", e, after)
	}
	if idEpoch(after) == idEpoch(old) {
		t.Fatalf("the event after the flush has the old epoch: %s", after)
	}
	onB := b.subscribe("f", old)
	reset := onB.next()
	var data struct{ LastEventID, Reason string }
	_ = json.Unmarshal([]byte(reset.data), &data)
	if reset.name != "reset" || data.Reason != "epoch" || data.LastEventID != old || reset.id != after {
		t.Fatalf("resuming from before the flush: %+v, want a reset (epoch) to %s", reset, after)
	}
	live := a.mustPublish("f", "live")
	if e := onB.next(); e.id != live || e.data != "live" {
		t.Fatalf("after the reset: %+v, want the live event %s", e, live)
	}
}

func idEpoch(id string) string {
	epoch, _, _ := parseID(id)
	return epoch
}

func TestClusterTrimmedHistory(t *testing.T) {
	r := startRedis(t, false)
	sse := `		transport redis {redis} {
			stream trimmed
			maxlen 100
		}`
	a, b := startCaddy(t, r, sse), startCaddy(t, r, sse)
	first := a.mustPublish("t", "0")
	for i := 1; i < 250; i++ {
		a.mustPublish("t", fmt.Sprint(i))
	}
	onB := b.subscribe("t", first)
	reset := onB.next()
	var data struct{ Reason string }
	_ = json.Unmarshal([]byte(reset.data), &data)
	if reset.name != "reset" || data.Reason != "expired" {
		t.Fatalf("resuming from a trimmed id: %+v, want a reset (expired)", reset)
	}
}
