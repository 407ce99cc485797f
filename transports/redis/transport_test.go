package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-sse/caddy-sse/hub"
)

// node is one Caddy node's transport of a test's hub, with what it delivered.
type node struct {
	t    *testing.T
	tr   hub.Transport
	logs *observer.ObservedLogs

	mu  sync.Mutex
	got []*hub.Event
}

type nodeOptions struct {
	stream  string
	maxLen  int
	history int
	maxAge  time.Duration
}

func openNode(t *testing.T, r *redisServer, o nodeOptions) *node {
	t.Helper()
	if o.stream == "" {
		o.stream = "test"
	}
	if o.history == 0 {
		o.history = 100
	}
	core, logs := observer.New(zap.DebugLevel)
	n := &node{t: t, logs: logs}
	mod := &Transport{URL: r.url(), Stream: o.stream, MaxLen: o.maxLen}
	if err := mod.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := mod.Validate(); err != nil {
		t.Fatal(err)
	}
	tr, err := mod.OpenTransport(hub.TransportConfig{
		Hub:       "test",
		Retention: hub.Retention{History: o.history, MaxAge: o.maxAge, Idempotency: time.Minute},
		Deliver:   n.deliver,
		Logger:    zap.New(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.tr = tr
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("closing the transport: %v", err)
		}
	})
	return n
}

func (n *node) deliver(events []*hub.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, events...)
}

// waitFor returns the first count events delivered, once there are.
func (n *node) waitFor(count int) []*hub.Event {
	n.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n.mu.Lock()
		got := slices.Clone(n.got)
		n.mu.Unlock()
		if len(got) >= count {
			return got
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("delivered %d events within 15s, want %d: %v", len(got), count, ids(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// delivered is what was delivered so far.
func (n *node) delivered() []*hub.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

func (n *node) append(events ...*hub.Event) {
	n.t.Helper()
	if err := n.tr.Append(context.Background(), events); err != nil {
		n.t.Fatalf("append: %v", err)
	}
}

func (n *node) head() hub.Position {
	n.t.Helper()
	p, err := n.tr.Head(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	return p
}

func (n *node) replay(after string, selectors ...string) hub.Replay {
	n.t.Helper()
	rep, err := n.tr.Replay(context.Background(), after, selectors)
	if err != nil {
		n.t.Fatalf("replay after %q: %v", after, err)
	}
	return rep
}

func ev(topic, data string) *hub.Event { return &hub.Event{Topics: []string{topic}, Data: data} }

func ids(events []*hub.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func datas(events []*hub.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Data
	}
	return out
}

func TestAppendIsDeliveredInStreamOrder(t *testing.T) {
	r := startRedis(t, false)
	a := openNode(t, r, nodeOptions{})
	var acked []*hub.Event
	for _, batch := range [][]*hub.Event{
		{ev("a", "1")},
		{ev("a", "2"), ev("b", "3"), {Topics: []string{"a", "b"}, Name: "multi", Data: "4\nlines", Retry: 1500 * time.Millisecond}},
		{ev("c", "5")},
	} {
		a.append(batch...)
		acked = append(acked, batch...)
	}
	got := a.waitFor(len(acked))
	if len(got) != len(acked) {
		t.Fatalf("delivered %d events, want %d", len(got), len(acked))
	}
	for i, e := range got {
		if e.ID != acked[i].ID || e.Data != acked[i].Data {
			t.Errorf("event %d: delivered %q (%q), acked %q (%q)", i, e.ID, e.Data, acked[i].ID, acked[i].Data)
		}
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Errorf("Seq does not grow: %d after %d", e.Seq, got[i-1].Seq)
		}
		if e.Time.IsZero() {
			t.Errorf("event %s has no time", e.ID)
		}
	}
	if h := a.head(); h.ID != got[len(got)-1].ID || h.Seq != got[len(got)-1].Seq {
		t.Errorf("head %+v, want the last event %s", h, got[len(got)-1].ID)
	}
	// Another node decodes what the first stored, field by field.
	b := openNode(t, r, nodeOptions{})
	rep := b.replay(got[0].ID, "*")
	if rep.Reset != "" || len(rep.Events) != len(got)-1 {
		t.Fatalf("replay on another node: %d events, reset %q", len(rep.Events), rep.Reset)
	}
	multi := rep.Events[2]
	if multi.ID != got[3].ID || multi.Name != "multi" || multi.Data != "4\nlines" || multi.Retry != 1500*time.Millisecond || !slices.Equal(multi.Topics, []string{"a", "b"}) {
		t.Errorf("decoded %+v, want the event stored as %+v", multi, got[3])
	}
}

func TestNodesDeliverTheSameOrder(t *testing.T) {
	r := startRedis(t, false)
	a, b := openNode(t, r, nodeOptions{}), openNode(t, r, nodeOptions{})
	const each = 25
	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		wg.Go(func() {
			for i := range each {
				if err := n.tr.Append(context.Background(), []*hub.Event{ev("t", fmt.Sprint(i))}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	gotA, gotB := a.waitFor(2*each), b.waitFor(2*each)
	if !slices.Equal(ids(gotA), ids(gotB)) {
		t.Fatalf("the nodes delivered different orders:\nA %v\nB %v", ids(gotA), ids(gotB))
	}
	if len(gotA) != 2*each {
		t.Fatalf("delivered %d events, want %d", len(gotA), 2*each)
	}
}

func TestReplay(t *testing.T) {
	r := startRedis(t, false)
	a := openNode(t, r, nodeOptions{})
	start := a.head()
	a.append(ev("a", "1"), ev("b", "2"), &hub.Event{Connection: "c1", Data: "private"}, &hub.Event{Topics: []string{"a"}, Exclude: "c2", Data: "3"}, ev("a/x", "4"))
	all := a.waitFor(5)
	for _, tc := range []struct {
		name      string
		after     string
		selectors []string
		want      []string
	}{
		{"from before the first event", start.ID, []string{"*"}, []string{"1", "2", "3", "4"}},
		{"one topic", start.ID, []string{"a"}, []string{"1", "3"}},
		{"a prefix", start.ID, []string{"a/*"}, []string{"4"}},
		{"after an event", all[0].ID, []string{"a", "b"}, []string{"2", "3"}},
		{"from the head", all[4].ID, []string{"*"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := a.replay(tc.after, tc.selectors...)
			if rep.Reset != "" {
				t.Fatalf("reset %q", rep.Reset)
			}
			if !slices.Equal(datas(rep.Events), tc.want) {
				t.Errorf("replayed %q, want %q", datas(rep.Events), tc.want)
			}
			_, sid, _ := parseID(tc.after)
			if seq, _ := sid.seq(); rep.After != seq {
				t.Errorf("After %d, want the id's Seq %d", rep.After, seq)
			}
		})
	}
}

func TestReplayResets(t *testing.T) {
	r := startRedis(t, false)
	a := openNode(t, r, nodeOptions{})
	a.append(ev("a", "1"))
	first := a.waitFor(1)[0]
	epoch, sid, _ := parseID(first.ID)
	for _, tc := range []struct {
		name, after string
		want        hub.ResetReason
	}{
		{"not an id", "garbage", hub.ResetUnknown},
		{"a memory transport's id", "m4x2k1q0ab3f-17", hub.ResetUnknown},
		{"newer than the stream", formatID(epoch, streamID{sid.ms + 60_000, 0}), hub.ResetUnknown},
		{"another epoch", formatID("m4x2k1q0ab3f", sid), hub.ResetEpoch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rep := a.replay(tc.after, "*"); rep.Reset != tc.want || len(rep.Events) != 0 {
				t.Errorf("reset %q with %d events, want %q and none", rep.Reset, len(rep.Events), tc.want)
			}
		})
	}
}

func TestTrimmedHistoryResetsAsExpired(t *testing.T) {
	r := startRedis(t, false)
	a := openNode(t, r, nodeOptions{maxLen: 100})
	// The stream is trimmed back to 100 entries once it holds 200.
	const total = 250
	for i := 0; i < total; i += 10 {
		batch := make([]*hub.Event, 10)
		for j := range batch {
			batch[j] = ev("a", fmt.Sprint(i+j))
		}
		a.append(batch...)
	}
	got := a.waitFor(total)
	if n := a.replay(got[0].ID, "a"); n.Reset != hub.ResetExpired {
		t.Errorf("resuming from a trimmed entry: reset %q, want expired", n.Reset)
	}
	recent := got[total-5]
	rep := a.replay(recent.ID, "a")
	if rep.Reset != "" || len(rep.Events) != 4 {
		t.Errorf("resuming from a kept entry: reset %q, %d events; want none and 4", rep.Reset, len(rep.Events))
	}
}

func TestMaxAgeResetsAsExpired(t *testing.T) {
	r := startRedis(t, false)
	a := openNode(t, r, nodeOptions{maxAge: 200 * time.Millisecond})
	a.append(ev("a", "old"), ev("a", "old too"))
	got := a.waitFor(2)
	time.Sleep(300 * time.Millisecond) // the events age past max age
	if rep := a.replay(got[0].ID, "a"); rep.Reset != hub.ResetExpired {
		t.Errorf("resuming before an event older than max age: reset %q, want expired", rep.Reset)
	}
}

func TestFlushedRedisIsANewEpoch(t *testing.T) {
	r := startRedis(t, false)
	a, b := openNode(t, r, nodeOptions{}), openNode(t, r, nodeOptions{})
	a.append(ev("a", "before"))
	old := a.waitFor(1)[0]
	b.waitFor(1)
	if err := r.client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if rep := a.replay(old.ID, "a"); rep.Reset != hub.ResetEpoch {
		t.Errorf("resuming from before the flush: reset %q, want epoch", rep.Reset)
	}
	a.append(ev("a", "after"))
	for _, n := range []*node{a, b} {
		got := n.waitFor(2)
		if got[1].Data != "after" {
			t.Fatalf("delivered %q after the flush", datas(got))
		}
		oldEpoch, _, _ := parseID(old.ID)
		newEpoch, _, _ := parseID(got[1].ID)
		if oldEpoch == newEpoch {
			t.Errorf("the event after the flush has the old epoch: %s", got[1].ID)
		}
		if rep := n.replay(old.ID, "a"); rep.Reset != hub.ResetEpoch {
			t.Errorf("resuming from before the flush: reset %q, want epoch", rep.Reset)
		}
		if rep := n.replay(got[1].ID, "a"); rep.Reset != "" {
			t.Errorf("resuming in the new epoch: reset %q", rep.Reset)
		}
	}
}

func TestIdempotencyKeysAreSharedByNodes(t *testing.T) {
	r := startRedis(t, false)
	a, b := openNode(t, r, nodeOptions{}), openNode(t, r, nodeOptions{})
	first := &hub.Event{Topics: []string{"a"}, Data: "once", IdempotencyKey: "k1"}
	a.append(first)
	retry := &hub.Event{Topics: []string{"a"}, Data: "once", IdempotencyKey: "k1"}
	b.append(retry)
	if !retry.Repeated() || retry.ID != first.ID || retry.Ack().Seq != first.Seq {
		t.Errorf("the retry on another node: repeated %v, id %q; want a repeat of %q", retry.Repeated(), retry.ID, first.ID)
	}
	// Repeats within one call, and a fresh key beside them.
	x, y, z := &hub.Event{Topics: []string{"a"}, IdempotencyKey: "k2"}, &hub.Event{Topics: []string{"a"}, IdempotencyKey: "k2"}, &hub.Event{Topics: []string{"a"}, IdempotencyKey: "k3"}
	b.append(x, y, z)
	if x.Repeated() || !y.Repeated() || y.ID != x.ID || z.Repeated() {
		t.Errorf("one call with k2 twice and k3: repeated %v %v %v", x.Repeated(), y.Repeated(), z.Repeated())
	}
	b.append(ev("a", "last"))
	for _, n := range []*node{a, b} {
		got := n.waitFor(4)
		time.Sleep(50 * time.Millisecond)
		if got = n.delivered(); len(got) != 4 {
			t.Errorf("delivered %d events, want 4 (repeats are not stored): %v", len(got), ids(got))
		}
	}
}

func TestEntriesWrittenByApplications(t *testing.T) {
	r := startRedis(t, false)
	a := openNode(t, r, nodeOptions{})
	c := r.client()
	ctx := context.Background()
	for _, values := range []map[string]any{
		{"topic": "a", "data": "hello", "event": "greeting"},
		{"topic": "news/*", "data": "a selector is no topic"},
		{"data": "no topic"},
		{"topic": "a", "data": "x", "colour": "red"},
		{"topic": "a", "event": "bad\nname"},
		{"topic": "a", "retry": "soon"},
		{"topic": "a\nb", "data": "two topics"},
	} {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "test", Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	got := a.waitFor(2)
	time.Sleep(50 * time.Millisecond)
	got = a.delivered()
	if len(got) != 2 || got[0].Name != "greeting" || got[0].Data != "hello" || !slices.Equal(got[1].Topics, []string{"a", "b"}) {
		t.Fatalf("delivered %+v, want the two valid entries", got)
	}
	if n := a.logs.FilterMessage("skipping an invalid stream entry").Len(); n != 5 {
		t.Errorf("%d warnings of invalid entries, want 5", n)
	}
	epoch, _, _ := parseID(got[0].ID)
	if rep := a.replay(formatID(epoch, streamID{}), "*"); len(rep.Events) != 2 {
		t.Errorf("replay holds %d events, want the 2 valid ones", len(rep.Events))
	}
}

func TestOutageAndRecovery(t *testing.T) {
	r := startRedis(t, true)
	a, b := openNode(t, r, nodeOptions{}), openNode(t, r, nodeOptions{})
	var acked []string
	publish := func(n *node, data string) error {
		e := ev("a", data)
		err := n.tr.Append(context.Background(), []*hub.Event{e})
		if err == nil {
			acked = append(acked, e.ID)
		}
		return err
	}
	for i := range 5 {
		if err := publish(a, fmt.Sprint("before ", i)); err != nil {
			t.Fatal(err)
		}
	}
	r.kill()
	err := publish(a, "during")
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("append while redis is down: %v, want ErrUnavailable", err)
	}
	if err := a.tr.(hub.Health).Healthy(); !errors.Is(err, hub.ErrUnavailable) {
		t.Errorf("Healthy while redis is down: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // the readers retry meanwhile
	r.restart()
	deadline := time.Now().Add(15 * time.Second)
	for publish(b, "after 0") != nil {
		if time.Now().After(deadline) {
			t.Fatal("appends still fail 15s after redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 1; i < 5; i++ {
		if err := publish(b, fmt.Sprint("after ", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*node{a, b} {
		n.waitFor(len(acked))
		time.Sleep(50 * time.Millisecond)
		if got := ids(n.delivered()); !slices.Equal(got, acked) {
			t.Errorf("delivered %v, want every acked event once, in order: %v", got, acked)
		}
	}
	deadline = time.Now().Add(10 * time.Second)
	for a.tr.(hub.Health).Healthy() != nil {
		if time.Now().After(deadline) {
			t.Fatal("still unhealthy 10s after redis came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if down, up := a.logs.FilterMessageSnippet("redis unreachable").Len(), a.logs.FilterMessage("redis reachable again").Len(); down != 1 || up != 1 {
		t.Errorf("logged the outage %d times and the recovery %d times, want once each", down, up)
	}
}
