package hub

import (
	"fmt"
	"slices"
	"testing"
)

// pageAll lists every subscriber of topic through pages of the given size.
func pageAll(t *testing.T, h *Hub, topic string, limit int) []string {
	t.Helper()
	var ids []string
	var after uint64
	for range 10000 {
		page, next := h.Subscribers(topic, after, limit)
		if len(page) > limit {
			t.Fatalf("page of %d, limit %d", len(page), limit)
		}
		for _, s := range page {
			ids = append(ids, s.ID)
		}
		if next == 0 {
			return ids
		}
		after = next
	}
	t.Fatal("paging does not end")
	return nil
}

func TestHubSubscribersPaging(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	var subs []*Subscription
	var want, wantEven []string
	for i := range 300 {
		topic := "odd"
		if i%2 == 0 {
			topic = "even/x"
		}
		subs = append(subs, hubtestJoin(t, h, fmt.Sprintf("s%03d", i), 10, "", topic))
	}
	// Leaving in numbers that force the join order to be compacted.
	for i, s := range subs {
		if i%3 == 0 {
			h.Unsubscribe(s.Subscriber)
			continue
		}
		want = append(want, s.ID)
		if i%2 == 0 {
			wantEven = append(wantEven, s.ID)
		}
	}
	for _, limit := range []int{1, 7, 1000} {
		if got := pageAll(t, h, "", limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: listed %d subscribers %v, want %d", limit, len(got), got, len(want))
		}
	}
	if got := pageAll(t, h, "even/x", 5); !slices.Equal(got, wantEven) {
		t.Errorf("topic even/x: %v, want %v", got, wantEven)
	}

	// A cursor stays valid while subscribers come and go: the survivors
	// after it are listed once each, then the newcomers.
	first, next := h.Subscribers("", 0, 10)
	h.Unsubscribe(subs[1].Subscriber) // listed already
	h.Unsubscribe(subs[299].Subscriber)
	late := hubtestJoin(t, h, "late", 10, "", "odd")
	var rest []string
	for next != 0 {
		var page []SubscriberInfo
		page, next = h.Subscribers("", next, 10)
		for _, s := range page {
			rest = append(rest, s.ID)
		}
	}
	var wantRest []string
	for _, id := range want[len(first):] {
		if id != subs[299].ID {
			wantRest = append(wantRest, id)
		}
	}
	wantRest = append(wantRest, late.ID)
	if !slices.Equal(rest, wantRest) {
		t.Errorf("after the first page: %v, want %v", rest, wantRest)
	}
}

func TestHubSubscribersScanIsBounded(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	for i := range maxScan + 10 {
		hubtestJoin(t, h, fmt.Sprint("x", i), 1, "", "x")
	}
	needle := hubtestJoin(t, h, "needle", 1, "", "y")
	page, next := h.Subscribers("y", 0, 10)
	if len(page) != 0 || next == 0 {
		t.Fatalf("first call: %d subscribers, next %d; want a short page and a cursor", len(page), next)
	}
	page, next = h.Subscribers("y", next, 10)
	if len(page) != 1 || page[0].ID != needle.ID || next != 0 {
		t.Fatalf("second call: %+v, next %d; want the needle and the end", page, next)
	}
}

func TestHubSubscriberInfo(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	s := hubtestJoin(t, h, "a", 10, "", "t", "u/*")
	s.RemoteAddr = "192.0.2.1:1234"
	hubtestPublish(t, h, &Event{Topics: []string{"t"}, Data: "x"})
	hubtestPublish(t, h, &Event{Topics: []string{"u/1"}, Data: "y"})
	page, _ := h.Subscribers("u/1", 0, 10)
	if len(page) != 1 {
		t.Fatalf("topic u/1 lists %d subscribers, want 1", len(page))
	}
	got := page[0]
	if got.ID != "a" || got.RemoteAddr != "192.0.2.1:1234" || !slices.Equal(got.Topics, []string{"t", "u/*"}) ||
		got.Queued != 2 || got.Path != "goroutine" || !got.ConnectedAt.Equal(s.ConnectedAt) {
		t.Errorf("info: %+v", got)
	}
	if page, _ := h.Subscribers("v", 0, 10); len(page) != 0 {
		t.Errorf("topic v lists %+v", page)
	}
}

func TestHubStatsByReason(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 2}})
	var ids []string
	for i := range 4 {
		e, _ := hubtestPublish(t, h, &Event{Topics: []string{"t"}, Data: fmt.Sprint(i)})
		ids = append(ids, e.ID)
	}
	for _, tc := range []struct {
		lastID string
		reset  ResetReason
	}{
		{"garbage", ResetUnknown},
		{ids[0], ResetExpired},
		{ids[2], ""},
	} {
		sub := hubtestJoin(t, h, "r"+tc.lastID, 10, tc.lastID, "t")
		if sub.Reset != tc.reset {
			t.Fatalf("resume from %q: reset %q, want %q", tc.lastID, sub.Reset, tc.reset)
		}
	}
	st := h.Stats()
	if st.Resets.Get(ResetUnknown) != 1 || st.Resets.Get(ResetExpired) != 1 || st.Resets.Get(ResetEpoch) != 0 {
		t.Errorf("resets: unknown %d expired %d epoch %d; want 1 1 0",
			st.Resets.Get(ResetUnknown), st.Resets.Get(ResetExpired), st.Resets.Get(ResetEpoch))
	}
	if got := st.Subscribers.Load(); got != 3 {
		t.Errorf("open subscribers %d, want 3", got)
	}

	for _, reason := range []CloseReason{ReasonQueueFull, ReasonAdmin, ReasonAdmin, "", ReasonClientGone} {
		s := hubtestJoin(t, h, "c"+fmt.Sprint(st.Connections.Load()), 10, "", "t")
		if reason != "" {
			s.Close(reason)
		}
		h.Unsubscribe(s.Subscriber)
		h.Unsubscribe(s.Subscriber) // counted once
	}
	for reason, want := range map[CloseReason]uint64{ReasonQueueFull: 1, ReasonAdmin: 2, ReasonClientGone: 1, "other": 1, ReasonWriteFailed: 0} {
		if got := st.Ended.Get(reason); got != want {
			t.Errorf("ended %s: %d, want %d", reason, got, want)
		}
	}
	if got := st.Subscribers.Load(); got != 3 {
		t.Errorf("open subscribers after leaving %d, want 3", got)
	}
}

func TestHubDisconnect(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	s := hubtestJoin(t, h, "a", 10, "", "t")
	if h.Disconnect("nobody") {
		t.Fatal("Disconnect of an unknown id reported true")
	}
	if !h.Disconnect("a") {
		t.Fatal("Disconnect of a subscriber reported false")
	}
	if closed, reason := s.Closed(); !closed || reason != ReasonAdmin {
		t.Fatalf("after Disconnect: closed %v reason %q", closed, reason)
	}
}

func TestBusiest(t *testing.T) {
	counts := map[string]int{"a": 1, "b": 5, "c": 5, "d": 2}
	for n, want := range map[int][]TopicCount{
		0:  {},
		2:  {{"b", 5}, {"c", 5}},
		10: {{"b", 5}, {"c", 5}, {"d", 2}, {"a", 1}},
	} {
		if got := Busiest(counts, n); !slices.Equal(got, want) {
			t.Errorf("busiest %d: %v, want %v", n, got, want)
		}
	}
}
