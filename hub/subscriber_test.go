package hub

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What a write carries around its events, on both serving paths: no part
// of it may end with a blank line of its own (issue 7).
func TestTakeAround(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	ev := &Event{ID: "e-1", Data: "x"}
	ev.Wire()
	tests := []struct {
		name      string
		pending   bool
		events    []*Event
		heartbeat bool
		reason    CloseReason // closed for it, when set
		head      string
		tail      string // "retry" for one retry line
		stillHeld bool   // the pending retry waits for a later write
	}{
		{"nothing", false, nil, false, "", "", "", false},
		{"heartbeat", false, nil, true, "", ":\n", "", false},
		{"pending retry waits through a heartbeat", true, nil, true, "", ":\n", "", true},
		{"pending retry joins the first event", true, []*Event{ev}, false, "", "retry: 2000\n", "", false},
		{"stopping ends with a retry line", false, []*Event{ev}, false, ReasonStopping, "", "retry", false},
		{"hub closed ends with a retry line", false, nil, false, ReasonHubClosed, "", "retry", false},
		{"an expired token ends with a retry line", false, nil, false, ReasonTokenExpired, "", "retry", false},
		{"max_duration ends without one", false, nil, false, ReasonMaxDuration, "", "", false},
		{"a slow client dropped gets none", false, nil, false, ReasonQueueFull, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSubscriber("c", []string{"a"}, 10, time.Now())
			s.hub = h
			if tt.pending {
				s.CarryRetry(AppendRetry(nil, 2*time.Second))
			}
			for _, e := range tt.events {
				s.push(e, nil)
			}
			s.heartbeat = tt.heartbeat
			if tt.reason != "" {
				s.Close(tt.reason)
			}
			b := s.Take(nil)
			if string(b.Head) != tt.head {
				t.Errorf("head %q, want %q", b.Head, tt.head)
			}
			switch {
			case tt.tail == "retry" && !isRetryLine(b.Tail):
				t.Errorf("tail %q, want one retry line", b.Tail)
			case tt.tail == "" && len(b.Tail) > 0:
				t.Errorf("tail %q, want none", b.Tail)
			}
			if (s.pendingRetry != nil) != tt.stillHeld {
				t.Errorf("pending retry held %v, want %v", s.pendingRetry != nil, tt.stillHeld)
			}
			if b.Closed != (tt.reason != "") || b.Reason != tt.reason {
				t.Errorf("closed %v for %q, want %q", b.Closed, b.Reason, tt.reason)
			}
		})
	}
}

func isRetryLine(b []byte) bool {
	s := string(b)
	return strings.HasPrefix(s, "retry: ") && strings.Count(s, "\n") == 1 && strings.HasSuffix(s, "\n")
}

// An attached subscriber wakes its writer once per batch of work, and
// again only after Release says more is waiting.
func TestSubscriberWriterWakes(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 10}})
	s := NewSubscriber("w", []string{"t"}, 10, time.Now())
	if _, err := h.Subscribe(t.Context(), s, ""); err != nil {
		t.Fatal(err)
	}
	w := &countingWriter{}
	s.Attach(w, nil)
	if w.wakes != 0 {
		t.Fatalf("attaching an idle stream woke its writer %d times", w.wakes)
	}
	for range 3 {
		if _, err := publish(h, []*Event{{Topics: []string{"t"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if w.wakes != 1 {
		t.Fatalf("three events woke the writer %d times before it took them, want 1", w.wakes)
	}
	if b := s.Take(nil); len(b.Events) != 3 {
		t.Fatalf("took %d events, want 3", len(b.Events))
	}
	if s.Release() {
		t.Fatal("Release reports more waiting when nothing is")
	}
	if _, err := publish(h, []*Event{{Topics: []string{"t"}}}); err != nil {
		t.Fatal(err)
	}
	if w.wakes != 2 {
		t.Fatalf("an event after Release woke the writer %d times in all, want 2", w.wakes)
	}
}

type countingWriter struct{ wakes int }

func (w *countingWriter) Wake(subs []*Subscriber) { w.wakes += len(subs) }

// takeLikeWriter takes as the hub's writers do: into its kept buffer, then
// clears the batch and keeps the buffer or lets it go.
func takeLikeWriter(s *Subscriber, buf *[]*Event) []string {
	b := s.Take((*buf)[:0])
	ids := make([]string, len(b.Events))
	for i, e := range b.Events {
		ids[i] = e.ID
	}
	clear(b.Events)
	*buf = nil
	if KeepBuffer(len(b.Events), cap(b.Events)) {
		*buf = b.Events
	}
	return ids
}

// TestTakeBurst: bursts and small batches alternating reach the writer in
// order and complete, and once a burst is over neither the subscriber's
// queue nor the writer's buffer keeps its size.
func TestTakeBurst(t *testing.T) {
	s := NewSubscriber("s", []string{"t"}, 10_000, time.Now())
	var buf []*Event
	seq := 0
	push := func(n int) []string {
		var ids []string
		for range n {
			seq++
			e := &Event{ID: "e-" + strconv.Itoa(seq), Topics: []string{"t"}}
			s.push(e, nil)
			ids = append(ids, e.ID)
		}
		return ids
	}
	for _, n := range []int{3, 1000, 2000, 5, 1500, 1500, 1, 0, 2} {
		want := push(n)
		if got := takeLikeWriter(s, &buf); !slices.Equal(got, want) {
			t.Fatalf("after pushing %d: took %d events %v..., want %d", n, len(got), head(got), len(want))
		}
	}
	if cap(s.queue) > BurstLen || cap(buf) > BurstLen {
		t.Errorf("after the bursts the queue keeps %d slots and the writer %d, want at most %d each", cap(s.queue), cap(buf), BurstLen)
	}
}

func head(ids []string) []string { return ids[:min(len(ids), 3)] }

// BenchmarkTakeFlood is a writer keeping up with a flood: 1,000 events
// queued between two Takes.
func BenchmarkTakeFlood(b *testing.B) {
	s := NewSubscriber("s", []string{"t"}, 10_000, time.Now())
	events := make([]*Event, 1000)
	for i := range events {
		events[i] = &Event{ID: strconv.Itoa(i), Topics: []string{"t"}}
	}
	var buf []*Event
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range events {
			s.push(e, nil)
		}
		got := s.Take(buf[:0])
		clear(got.Events)
		buf = nil
		if KeepBuffer(len(got.Events), cap(got.Events)) {
			buf = got.Events
		}
	}
}
