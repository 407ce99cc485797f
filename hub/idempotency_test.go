package hub

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// A publish that repeats an idempotency key gets the first one's ack and
// stores nothing; retries racing each other store exactly one event.
func TestIdempotentPublish(t *testing.T) {
	h := hubtestNew(t, Config{Retention: Retention{History: 100, Idempotency: time.Minute}})
	sub := hubtestJoin(t, h, "s", 100, "", "t")

	first, n := hubtestPublish(t, h, &Event{Topics: []string{"t"}, Data: "once", IdempotencyKey: "k1"})
	again, m := hubtestPublish(t, h, &Event{Topics: []string{"t"}, Data: "once", IdempotencyKey: "k1"})
	if first.Repeated() || !again.Repeated() || again.ID != first.ID || m != n || n != 1 {
		t.Fatalf("first %s (repeat %v, %d subscribers), again %s (repeat %v, %d): want the same ack, the second a repeat",
			first.ID, first.Repeated(), n, again.ID, again.Repeated(), m)
	}

	// In one batch: the second use of a key repeats the first.
	batch := []*Event{
		{Topics: []string{"t"}, IdempotencyKey: "b"},
		{Topics: []string{"t"}},
		{Topics: []string{"t"}, IdempotencyKey: "b"},
	}
	if _, err := publish(h, batch); err != nil {
		t.Fatal(err)
	}
	if batch[2].ID != batch[0].ID || !batch[2].Repeated() || batch[1].ID == batch[0].ID {
		t.Fatalf("batch ids %v: want the third to repeat the first", histIDs(batch))
	}

	// Racing retries of one key.
	const racers = 32
	acks := make([]string, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			e := &Event{Topics: []string{"t"}, Data: "race", IdempotencyKey: "race"}
			if _, err := publish(h, []*Event{e}); err != nil {
				t.Error(err)
			}
			acks[i] = e.ID
		})
	}
	wg.Wait()
	if len(slices.Compact(slices.Clone(acks))) != 1 {
		t.Fatalf("racing retries got different acks: %v", acks)
	}

	got := hubtestTake(sub.Subscriber)
	want := []string{first.ID, batch[0].ID, batch[1].ID, acks[0]}
	if !slices.Equal(got, want) {
		t.Fatalf("the subscriber got %v, want each event once: %v", got, want)
	}
	if info := h.Info(); info.History != len(want) {
		t.Fatalf("history holds %d events, want %d", info.History, len(want))
	}
}

func TestKeysWindowAndBound(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := NewKeys(time.Minute)
	k.Add("a", Ack{ID: "e-1", Time: t0})
	if a, ok := k.Lookup("a", t0.Add(59*time.Second)); !ok || a.ID != "e-1" {
		t.Fatalf("within the window: %v %v", a, ok)
	}
	if _, ok := k.Lookup("a", t0.Add(61*time.Second)); ok {
		t.Fatal("a key past its window is still remembered")
	}
	for i := range MaxIdempotencyKeys + 10 {
		k.Add(strconv.Itoa(i), Ack{ID: "x", Time: t0.Add(2 * time.Minute)})
	}
	if k.Len() != MaxIdempotencyKeys {
		t.Fatalf("%d keys remembered, want at most %d", k.Len(), MaxIdempotencyKeys)
	}
	if _, ok := k.Lookup("0", t0.Add(2*time.Minute)); ok {
		t.Fatal("the oldest key survived the bound")
	}
	if _, ok := NewKeys(0).Lookup("a", t0); ok {
		t.Fatal("a zero window remembers keys")
	}
}
