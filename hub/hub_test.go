package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// hubtestNew starts a hub that is closed when the test ends.
func hubtestNew(t testing.TB, cfg Config) *Hub {
	t.Helper()
	h, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// publish publishes the events and returns how many subscribers each was
// queued to.
func publish(h *Hub, events []*Event) ([]int, error) {
	if err := h.Publish(context.Background(), events); err != nil {
		return nil, err
	}
	counts := make([]int, len(events))
	for i, e := range events {
		counts[i] = e.Ack().Subscribers
	}
	return counts, nil
}

// takeAll takes what waits for s: the events (appended to dst), whether a
// heartbeat is due, and whether the stream is closed, and why.
func takeAll(s *Subscriber, dst []*Event) ([]*Event, bool, bool, CloseReason) {
	b := s.Take(dst)
	return b.Events, b.Head != nil && len(b.Events) == 0, b.Closed, b.Reason
}

// hubtestJoin subscribes a new subscriber with the given id and selectors.
func hubtestJoin(t testing.TB, h *Hub, id string, limit int, lastEventID string, topics ...string) *Subscription {
	t.Helper()
	sub, err := h.Subscribe(context.Background(), NewSubscriber(id, topics, limit, time.Now()), lastEventID)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", id, err)
	}
	return sub
}

// hubtestPublish publishes one event and returns it with its count.
func hubtestPublish(t testing.TB, h *Hub, e *Event) (*Event, int) {
	t.Helper()
	counts, err := publish(h, []*Event{e})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(counts) != 1 {
		t.Fatalf("Publish returned %d counts for one event", len(counts))
	}
	return e, counts[0]
}

// hubtestTake returns the ids of the events waiting for s.
func hubtestTake(s *Subscriber) []string {
	events, _, _, _ := takeAll(s, nil)
	return histIDs(events)
}

// hubtestWait waits until cond holds, or fails the test after a generous
// deadline; it asserts that something happens, not when.
func hubtestWait(t *testing.T, s *Subscriber, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-s.Notify():
		case <-time.After(5 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestHubFanOut(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	subs := map[string]*Subscription{
		"exact":    hubtestJoin(t, h, "exact", 100, "", "news/uk"),
		"prefix":   hubtestJoin(t, h, "prefix", 100, "", "news/*"),
		"all":      hubtestJoin(t, h, "all", 100, "", "*"),
		"sport":    hubtestJoin(t, h, "sport", 100, "", "sport"),
		"multi":    hubtestJoin(t, h, "multi", 100, "", "news/*", "news/uk", "*"),
		"news":     hubtestJoin(t, h, "news", 100, "", "news"),
		"bare":     hubtestJoin(t, h, "bare", 100, "", "news*"),
		"two":      hubtestJoin(t, h, "two", 100, "", "sport", "weather"),
		"deeper":   hubtestJoin(t, h, "deeper", 100, "", "news/uk/*"),
		"nobodyOf": hubtestJoin(t, h, "nobodyOf", 100, "", "other/*"),
	}
	tests := []struct {
		name string
		e    Event
		want []string // who gets it, once each
	}{
		{"exact topic", Event{Topics: []string{"news/uk"}}, []string{"exact", "prefix", "all", "multi", "bare"}},
		{"deeper topic", Event{Topics: []string{"news/uk/london"}}, []string{"prefix", "all", "multi", "bare", "deeper"}},
		{"prefix without slash", Event{Topics: []string{"newsletter"}}, []string{"all", "multi", "bare"}},
		{"parent topic", Event{Topics: []string{"news"}}, []string{"all", "multi", "bare", "news"}},
		{"several topics", Event{Topics: []string{"news/uk", "sport", "weather"}}, []string{"exact", "prefix", "all", "multi", "bare", "sport", "two"}},
		{"unwatched topic", Event{Topics: []string{"weather"}}, []string{"all", "multi", "two"}},
		{"connection regardless of topic", Event{Topics: []string{"news/uk"}, Connection: "sport"}, []string{"sport"}},
		{"connection without topic", Event{Connection: "news"}, []string{"news"}},
		{"connection to nobody", Event{Connection: "gone"}, nil},
		{"exclude one", Event{Topics: []string{"news/uk"}, Exclude: "exact"}, []string{"prefix", "all", "multi", "bare"}},
		{"exclude a wildcard subscriber", Event{Topics: []string{"news/uk"}, Exclude: "multi"}, []string{"exact", "prefix", "all", "bare"}},
		{"exclude a non-subscriber", Event{Topics: []string{"sport"}, Exclude: "news"}, []string{"all", "multi", "sport", "two"}},
		{"connection and exclude the same", Event{Connection: "all", Exclude: "all"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, n := hubtestPublish(t, h, &tt.e)
			if n != len(tt.want) {
				t.Errorf("Publish counted %d subscribers, want %d", n, len(tt.want))
			}
			for id, s := range subs {
				got := hubtestTake(s.Subscriber)
				want := []string(nil)
				if slices.Contains(tt.want, id) {
					want = []string{e.ID}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s got %v, want %v", id, got, want)
				}
			}
		})
	}
}

func TestHubPublishBatch(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	a := hubtestJoin(t, h, "a", 100, "", "a")
	ab := hubtestJoin(t, h, "ab", 100, "", "a", "b")
	events := []*Event{
		{Topics: []string{"a"}, Data: "1"},
		{Topics: []string{"b"}, Data: "2"},
		{Topics: []string{"c"}, Data: "3"},
		{Topics: []string{"a", "b"}, Data: "4"},
	}
	counts, err := publish(h, events)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 1, 0, 2}; !slices.Equal(counts, want) {
		t.Fatalf("counts = %v, want %v", counts, want)
	}
	ids := histIDs(events)
	for i, id := range ids {
		if id == "" || (i > 0 && id == ids[i-1]) {
			t.Fatalf("ids %v: each event needs its own id", ids)
		}
		if string(events[i].Wire()[:4+len(id)]) != "id: "+id {
			t.Fatalf("event %d wire %q does not carry its id", i, events[i].Wire())
		}
	}
	if got := hubtestTake(a.Subscriber); !slices.Equal(got, []string{ids[0], ids[3]}) {
		t.Errorf("a got %v", got)
	}
	if got := hubtestTake(ab.Subscriber); !slices.Equal(got, []string{ids[0], ids[1], ids[3]}) {
		t.Errorf("ab got %v", got)
	}
	if got := h.Stats().Published.Load(); got != 4 {
		t.Errorf("Published = %d, want 4", got)
	}
	if got := h.Stats().Delivered.Load(); got != 5 {
		t.Errorf("Delivered = %d, want 5", got)
	}
}

func TestHubReplay(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	first, _ := hubtestPublish(t, h, &Event{Topics: []string{"a"}, Data: "first"})
	var want []string
	for i := range 6 {
		topic := []string{"a", "b", "a/x"}[i%3]
		e, _ := hubtestPublish(t, h, &Event{Topics: []string{topic}, Data: strconv.Itoa(i)})
		if topic != "b" {
			want = append(want, e.ID)
		}
	}
	// Targeted events are for their connection only, never for a replay.
	hubtestPublish(t, h, &Event{Topics: []string{"a"}, Connection: "someone", Data: "private"})
	hubtestPublish(t, h, &Event{Connection: "someone", Data: "private"})
	last, _ := hubtestPublish(t, h, &Event{Topics: []string{"a"}, Data: "last"})
	want = append(want, last.ID)

	sub := hubtestJoin(t, h, "resumer", 100, first.ID, "a", "a/*")
	if sub.Reset != "" {
		t.Fatalf("Reset = %q, want a complete replay", sub.Reset)
	}
	if got := histIDs(sub.Replay); !slices.Equal(got, want) {
		t.Fatalf("Replay = %v, want %v", got, want)
	}
	if sub.Head != last.ID || sub.Requested != first.ID {
		t.Fatalf("Head %q Requested %q; want %q and %q", sub.Head, sub.Requested, last.ID, first.ID)
	}
	// Live events follow the replay.
	live, _ := hubtestPublish(t, h, &Event{Topics: []string{"a"}})
	if got := hubtestTake(sub.Subscriber); !slices.Equal(got, []string{live.ID}) {
		t.Fatalf("live events = %v, want %v", got, []string{live.ID})
	}

	// Without an id there is no replay: the subscriber starts at Head.
	fresh := hubtestJoin(t, h, "fresh", 100, "", "a")
	if fresh.Replay != nil || fresh.Reset != "" || fresh.Head != live.ID {
		t.Fatalf("fresh subscriber: Replay %v Reset %q Head %q", histIDs(fresh.Replay), fresh.Reset, fresh.Head)
	}
}

func TestHubHeadBeforeFirstEvent(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	early := hubtestJoin(t, h, "early", 100, "", "a")
	if early.Head == "" {
		t.Fatal("Head is empty before the first event; a client could not resume from it")
	}
	var want []string
	for range 3 {
		e, _ := hubtestPublish(t, h, &Event{Topics: []string{"a"}})
		want = append(want, e.ID)
	}
	// A client that got the reset to Head resumes with every event since.
	sub := hubtestJoin(t, h, "back", 100, early.Head, "a")
	if sub.Reset != "" || !slices.Equal(histIDs(sub.Replay), want) {
		t.Fatalf("resume from %q: Reset %q Replay %v, want %v", early.Head, sub.Reset, histIDs(sub.Replay), want)
	}
}

func TestHubResetNoReplay(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	var last *Event
	for range 3 {
		last, _ = hubtestPublish(t, h, &Event{Topics: []string{"a"}})
	}
	epoch, _, _ := ParseID(last.ID)
	tests := []struct {
		id   string
		want ResetReason
	}{
		{"garbage", ResetUnknown},
		{epoch + "-999", ResetUnknown},
		{"zz0-1", ResetEpoch},
	}
	for i, tt := range tests {
		sub := hubtestJoin(t, h, "r"+strconv.Itoa(i), 100, tt.id, "a")
		if sub.Reset != tt.want || sub.Replay != nil || sub.Head != last.ID {
			t.Errorf("resume from %q: Reset %q Replay %v Head %q; want %q, none, %q",
				tt.id, sub.Reset, histIDs(sub.Replay), sub.Head, tt.want, last.ID)
		}
	}
	// The subscriber is live after a reset.
	live, _ := hubtestPublish(t, h, &Event{Topics: []string{"a"}})
	sub := hubtestJoin(t, h, "later", 100, "garbage", "a")
	live2, n := hubtestPublish(t, h, &Event{Topics: []string{"a"}})
	if n != 4 {
		t.Errorf("Publish counted %d, want 4 subscribers", n)
	}
	if sub.Head != live.ID {
		t.Errorf("Head = %q, want %q", sub.Head, live.ID)
	}
	if got := hubtestTake(sub.Subscriber); !slices.Equal(got, []string{live2.ID}) {
		t.Errorf("got %v, want %v", got, []string{live2.ID})
	}
}

func TestHubHistoryBounds(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	var ev []*Event
	for i := range 25 {
		e, _ := hubtestPublish(t, h, &Event{Topics: []string{"a"}, Data: strconv.Itoa(i)})
		ev = append(ev, e)
	}
	if got := h.Info().History; got != 10 {
		t.Fatalf("Info().History = %d, want 10", got)
	}
	for _, tc := range []struct {
		from  int
		reset ResetReason
	}{{4, ResetExpired}, {13, ResetExpired}, {14, ""}, {20, ""}, {24, ""}} {
		sub := hubtestJoin(t, h, "s"+strconv.Itoa(tc.from), 100, ev[tc.from].ID, "a")
		if sub.Reset != tc.reset {
			t.Errorf("resume from event %d: Reset %q, want %q", tc.from, sub.Reset, tc.reset)
		}
		var want []string
		if tc.reset == "" {
			want = histIDs(ev[tc.from+1:])
		}
		if got := histIDs(sub.Replay); !slices.Equal(got, want) {
			t.Errorf("resume from event %d: Replay %v, want %v", tc.from, got, want)
		}
		if sub.Head != ev[24].ID {
			t.Errorf("Head = %q, want %q", sub.Head, ev[24].ID)
		}
	}
}

func TestHubConfigureHistory(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	var ev []*Event
	for range 10 {
		e, _ := hubtestPublish(t, h, &Event{Topics: []string{"a"}})
		ev = append(ev, e)
	}
	h.Configure(Config{Retention: Retention{History: 3}})
	if info := h.Info(); info.History != 3 || info.LastID != ev[9].ID {
		t.Fatalf("after shrinking: History %d LastID %q; want 3 and %q", info.History, info.LastID, ev[9].ID)
	}
	if h.Config().History != 3 {
		t.Fatalf("Config().History = %d, want 3", h.Config().History)
	}
	sub := hubtestJoin(t, h, "a", 100, ev[6].ID, "a")
	if sub.Reset != "" || !slices.Equal(histIDs(sub.Replay), histIDs(ev[7:])) {
		t.Fatalf("resume after shrinking: Reset %q Replay %v", sub.Reset, histIDs(sub.Replay))
	}
	if sub := hubtestJoin(t, h, "b", 100, ev[5].ID, "a"); sub.Reset != ResetExpired {
		t.Fatalf("resume from a dropped event: Reset %q, want expired", sub.Reset)
	}
	h.Configure(Config{Retention: Retention{History: 50}})
	more, _ := hubtestPublish(t, h, &Event{Topics: []string{"a"}})
	sub = hubtestJoin(t, h, "c", 100, ev[6].ID, "a")
	want := append(histIDs(ev[7:]), more.ID)
	if sub.Reset != "" || !slices.Equal(histIDs(sub.Replay), want) {
		t.Fatalf("resume after growing: Reset %q Replay %v, want %v", sub.Reset, histIDs(sub.Replay), want)
	}
}

// Subscribers that join while events are being published must see every
// event after their Last-Event-ID exactly once and in order: from the
// replay, then from their queue.
func TestHubReplayUnderConcurrentPublish(t *testing.T) {
	for _, tc := range []struct {
		name string
		open Opener
	}{
		{"memory", nil},
		// Appends and replays that take time, delivery after the store,
		// and every seventh append refused: the merge of replay and live
		// events must still be exact.
		{"slow transport with failures", &laggyOpener{failEvery: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) { testReplayUnderConcurrentPublish(t, tc.open) })
	}
}

func testReplayUnderConcurrentPublish(t *testing.T, open Opener) {
	const total = 2000
	h, err := New(Config{Retention: Retention{History: 4 * total}}, open, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	topicOf := func(i int) string { return []string{"t/a", "t/b", "u"}[i%3] }

	var mu sync.Mutex
	published := make([]*Event, 0, total)
	progress := make(chan int, total)
	go func() {
		defer close(progress)
		for i := 0; len(published) < total; i++ {
			e := &Event{Topics: []string{topicOf(i)}, Data: strconv.Itoa(i)}
			if _, err := publish(h, []*Event{e}); errors.Is(err, ErrUnavailable) {
				continue // refused: stored nowhere, delivered to no one
			} else if err != nil {
				t.Errorf("Publish %d: %v", i, err)
				return
			}
			mu.Lock()
			published = append(published, e)
			mu.Unlock()
			progress <- len(published) - 1
		}
	}()

	type joiner struct {
		sub   *Subscription
		from  int // index of the Last-Event-ID; -1 for none
		sels  []string
		start string
	}
	selectors := [][]string{{"t/a"}, {"t/*"}, {"*"}, {"u", "t/b"}, {"t/*", "t/a", "*"}}
	var joiners []*joiner
	var jmu sync.Mutex
	var wg sync.WaitGroup
	join := func(n, from int, lastID string) {
		defer wg.Done()
		sels := selectors[n%len(selectors)]
		sub, err := h.Subscribe(context.Background(), NewSubscriber("j"+strconv.Itoa(n), sels, 2*total, time.Now()), lastID)
		if err != nil {
			t.Errorf("Subscribe: %v", err)
			return
		}
		jmu.Lock()
		joiners = append(joiners, &joiner{sub: sub, from: from, sels: sels, start: lastID})
		jmu.Unlock()
	}
	n := 0
	for i := range progress {
		if i%97 != 0 || i == 0 {
			continue
		}
		// Resume from a few earlier events, and also start fresh, while
		// the publisher keeps going.
		mu.Lock()
		snapshot := published[:len(published):len(published)]
		mu.Unlock()
		for _, back := range []int{1, 5, 50, len(snapshot)} {
			from := len(snapshot) - back
			wg.Add(1)
			go join(n, from, snapshot[from].ID)
			n++
		}
		wg.Add(1)
		go join(n, -1, "")
		n++
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(published) != total {
		t.Fatalf("published %d events, want %d", len(published), total)
	}
	index := make(map[string]int, total)
	for i, e := range published {
		index[e.ID] = i
	}
	for _, j := range joiners {
		from := j.from
		if from < 0 {
			// A fresh subscriber starts after Head.
			var ok bool
			if from, ok = index[j.sub.Head]; !ok {
				t.Fatalf("%s: Head %q is not a published id", j.sub.ID, j.sub.Head)
			}
		}
		if j.sub.Reset != "" {
			t.Errorf("%s: Reset %q resuming from event %d", j.sub.ID, j.sub.Reset, from)
			continue
		}
		var want []string
		for i := from + 1; i < total; i++ {
			if MatchesAny(j.sels, published[i].Topics) {
				want = append(want, published[i].ID)
			}
		}
		queued, _, closed, reason := takeAll(j.sub.Subscriber, nil)
		got := append(histIDs(j.sub.Replay), histIDs(queued)...)
		if closed {
			t.Errorf("%s closed: %s", j.sub.ID, reason)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s %v from event %d: got %d events, want %d (first difference at %d)",
				j.sub.ID, j.sels, from, len(got), len(want), hubtestFirstDiff(got, want))
		}
	}
	if len(joiners) < 50 {
		t.Fatalf("only %d subscribers joined; the test did not exercise much", len(joiners))
	}
}

func hubtestFirstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestHubSlowSubscriber(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	slow := hubtestJoin(t, h, "slow", 2, "", "t")
	fast := hubtestJoin(t, h, "fast", 1000, "", "t")
	var ids, fastGot []string
	for i := range 50 {
		// Publishing never waits for the slow subscriber: were it to
		// block, this loop would hang.
		e, n := hubtestPublish(t, h, &Event{Topics: []string{"t"}, Data: strconv.Itoa(i)})
		ids = append(ids, e.ID)
		want := 1
		if i < 2 {
			want = 2
		}
		if n != want {
			t.Fatalf("event %d: queued to %d subscribers, want %d", i, n, want)
		}
		if i%10 == 0 {
			// The normal subscriber keeps up; the slow one never takes.
			fastGot = append(fastGot, hubtestTake(fast.Subscriber)...)
		}
	}
	fastGot = append(fastGot, hubtestTake(fast.Subscriber)...)
	if !slices.Equal(fastGot, ids) {
		t.Fatalf("normal subscriber got %d events, want all %d in order", len(fastGot), len(ids))
	}
	closed, reason := slow.Closed()
	if !closed || reason != ReasonQueueFull {
		t.Fatalf("slow subscriber: closed %v reason %q; want closed for %q", closed, reason, ReasonQueueFull)
	}
	events, _, closedTake, reason := takeAll(slow.Subscriber, nil)
	if !slices.Equal(histIDs(events), ids[:2]) || !closedTake || reason != ReasonQueueFull {
		t.Fatalf("slow take: %v closed %v %q; want the first two events and queue_full", histIDs(events), closedTake, reason)
	}
	h.Unsubscribe(slow.Subscriber)
	if got := h.Stats().Ended.Get(ReasonQueueFull); got != 1 {
		t.Fatalf("ended for queue_full: %d, want 1", got)
	}
}

func TestHubSlowSubscriberGetsEverythingItTakes(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	slow := hubtestJoin(t, h, "slow", 2, "", "t")
	fast := hubtestJoin(t, h, "fast", 1000, "", "t")
	var ids []string
	for i := range 20 {
		e, _ := hubtestPublish(t, h, &Event{Topics: []string{"t"}, Data: strconv.Itoa(i)})
		ids = append(ids, e.ID)
	}
	if got := hubtestTake(fast.Subscriber); !slices.Equal(got, ids) {
		t.Fatalf("fast subscriber got %d events, want all %d", len(got), len(ids))
	}
	if got := hubtestTake(slow.Subscriber); !slices.Equal(got, ids[:2]) {
		t.Fatalf("slow subscriber got %v after being dropped, want only the first two", got)
	}
	// Once closed it stays out of every later publish.
	if _, n := hubtestPublish(t, h, &Event{Topics: []string{"t"}}); n != 1 {
		t.Fatalf("queued to %d, want 1", n)
	}
	if got := hubtestTake(slow.Subscriber); len(got) != 0 {
		t.Fatalf("closed subscriber still receives: %v", got)
	}
}

func TestHubUnsubscribe(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	a := hubtestJoin(t, h, "a", 100, "", "t", "*")
	b := hubtestJoin(t, h, "b", 100, "", "t/*")
	if got := h.Info().Subscribers; got != 2 {
		t.Fatalf("Subscribers = %d, want 2", got)
	}
	h.Unsubscribe(a.Subscriber)
	h.Unsubscribe(a.Subscriber) // idempotent
	h.Unsubscribe(NewSubscriber("never", []string{"t"}, 1, time.Now()))
	if _, n := hubtestPublish(t, h, &Event{Topics: []string{"t"}}); n != 0 {
		t.Fatalf("queued to %d after Unsubscribe, want 0", n)
	}
	if _, n := hubtestPublish(t, h, &Event{Connection: "a"}); n != 0 {
		t.Fatalf("targeted event reached an unsubscribed connection")
	}
	if got := hubtestTake(a.Subscriber); len(got) != 0 {
		t.Fatalf("unsubscribed subscriber got %v", got)
	}
	e, n := hubtestPublish(t, h, &Event{Topics: []string{"t/x"}})
	if n != 1 || !slices.Equal(hubtestTake(b.Subscriber), []string{e.ID}) {
		t.Fatalf("the other subscriber lost delivery")
	}
	info := h.Info()
	if info.Subscribers != 1 || info.Topics["t"] != 0 || info.Topics["t/*"] != 1 {
		t.Fatalf("Info after Unsubscribe: %+v", info)
	}
	h.Unsubscribe(b.Subscriber)
	if _, n := hubtestPublish(t, h, &Event{Topics: []string{"t/x"}}); n != 0 {
		t.Fatalf("queued to %d with nobody subscribed", n)
	}
}

func TestHubClose(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100}})
	a := hubtestJoin(t, h, "a", 100, "", "t")
	b := hubtestJoin(t, h, "b", 100, "", "*")
	h.Close()
	h.Close() // idempotent
	for _, s := range []*Subscription{a, b} {
		if closed, reason := s.Closed(); !closed || reason != ReasonHubClosed {
			t.Errorf("%s: closed %v reason %q; want %q", s.ID, closed, reason, ReasonHubClosed)
		}
		select {
		case <-s.Notify():
		default:
			t.Errorf("%s was not woken up by Close", s.ID)
		}
	}
	if _, err := publish(h, []*Event{{Topics: []string{"t"}}}); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("Publish after Close: %v, want ErrHubClosed", err)
	}
	if _, err := h.Subscribe(context.Background(), NewSubscriber("c", []string{"t"}, 1, time.Now()), ""); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrHubClosed", err)
	}
}

func TestHubHeartbeat(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}, Heartbeat: 60 * time.Millisecond})
	s := hubtestJoin(t, h, "quiet", 10, "", "t")
	hubtestWait(t, s.Subscriber, "a heartbeat", func() bool {
		events, heartbeat, closed, _ := takeAll(s.Subscriber, nil)
		if len(events) > 0 || closed {
			t.Fatalf("a quiet subscriber got events %v or was closed (%v)", histIDs(events), closed)
		}
		return heartbeat
	})
	// A comment line alone: a blank line after it would be dispatched as
	// an empty message by some clients (issue 7).
	if got := string(h.HeartbeatWire()); got != ":\n" {
		t.Fatalf("HeartbeatWire = %q, want a comment line without a blank line", got)
	}
	h.Configure(Config{Retention: Retention{History: 10}, Heartbeat: 60 * time.Millisecond, HeartbeatEvent: true})
	if got := string(h.HeartbeatWire()); got != "event: heartbeat\ndata: \n\n" {
		t.Fatalf("HeartbeatWire = %q, want a heartbeat event", got)
	}
}

func TestHubNoHeartbeatWhenDisabled(t *testing.T) {
	// Heartbeat 0 disables heartbeats, but the sweep still runs. A stream
	// past its deadline is closed by the next sweep, so once a second such
	// stream, subscribed after the first was closed, is closed too, at
	// least one whole sweep went over the quiet subscriber.
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	longAgo := time.Now().Add(-time.Hour)
	quiet, err := h.Subscribe(context.Background(), NewSubscriber("quiet", []string{"t"}, 10, longAgo), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		s := NewSubscriber("ending"+strconv.Itoa(i), []string{"t"}, 10, longAgo)
		s.deadline = longAgo
		if _, err := h.Subscribe(context.Background(), s, ""); err != nil {
			t.Fatal(err)
		}
		hubtestWait(t, s, "a sweep", func() bool { c, _ := s.Closed(); return c })
	}
	if _, heartbeat, _, _ := takeAll(quiet.Subscriber, nil); heartbeat {
		t.Fatal("heartbeat with heartbeats disabled")
	}
}

func TestHubMaxDuration(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	s := NewSubscriber("old", []string{"t"}, 10, time.Now())
	s.EndBy(time.Now().Add(-time.Millisecond), ReasonMaxDuration)
	keep := NewSubscriber("young", []string{"t"}, 10, time.Now())
	keep.EndBy(time.Now().Add(time.Hour), ReasonMaxDuration)
	for _, x := range []*Subscriber{s, keep} {
		if _, err := h.Subscribe(context.Background(), x, ""); err != nil {
			t.Fatal(err)
		}
	}
	hubtestWait(t, s, "the deadline to close the stream", func() bool {
		closed, _ := s.Closed()
		return closed
	})
	if _, reason := s.Closed(); reason != ReasonMaxDuration {
		t.Fatalf("reason %q, want %q", reason, ReasonMaxDuration)
	}
	if closed, _ := keep.Closed(); closed {
		t.Fatal("a stream before its deadline was closed")
	}
}

func TestHubCloseReasonFirstWins(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	s := hubtestJoin(t, h, "s", 1, "", "t")
	hubtestPublish(t, h, &Event{Topics: []string{"t"}})
	hubtestPublish(t, h, &Event{Topics: []string{"t"}}) // queue full
	h.Close()
	if _, reason := s.Closed(); reason != ReasonQueueFull {
		t.Fatalf("reason %q, want the first one, %q", reason, ReasonQueueFull)
	}
}

func BenchmarkFanOut10k(b *testing.B) {
	const subscribers, drainEvery = 10_000, 100
	h := hubtestNew(b, Config{Retention: Retention{History: 1000}})
	subs := make([]*Subscriber, subscribers)
	for i := range subs {
		subs[i] = hubtestJoin(b, h, fmt.Sprintf("s%d", i), 2*drainEvery, "", "bench").Subscriber
	}
	drain := func() {
		var buf []*Event
		for _, s := range subs {
			events, _, closed, reason := takeAll(s, buf[:0])
			if closed {
				b.Fatalf("%s closed: %s", s.ID, reason)
			}
			clear(events)
			buf = events
		}
	}
	data := `{"price":42.5,"symbol":"ACME"}`
	var delivered, i int
	b.ReportAllocs()
	for b.Loop() {
		counts, err := publish(h, []*Event{{Topics: []string{"bench"}, Name: "tick", Data: data}})
		if err != nil {
			b.Fatal(err)
		}
		delivered += counts[0]
		if i++; i%drainEvery == 0 {
			b.StopTimer()
			drain()
			b.StartTimer()
		}
	}
	drain()
	if delivered != i*subscribers {
		b.Fatalf("delivered %d, want %d", delivered, i*subscribers)
	}
	b.ReportMetric(float64(delivered)/float64(i), "deliveries/op")
}
