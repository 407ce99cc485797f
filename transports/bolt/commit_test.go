package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

func TestConcurrentAppends(t *testing.T) {
	// 32 publishers at once: every event is delivered exactly once, in
	// sequence order, and each Append sees the ids of its own events.
	const publishers, rounds = 32, 20
	o := openAt(t, dbPath(t), hub.Retention{History: 10_000}, nil)
	start := o.head().ID
	var wg sync.WaitGroup
	own := make([][]string, publishers)
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			for r := range rounds {
				events := []*hub.Event{{Topics: []string{"t"}, Data: fmt.Sprintf("%d/%d/a", p, r)}}
				if r%2 == 1 { // some Appends carry two events
					events = append(events, &hub.Event{Topics: []string{"t"}, Data: fmt.Sprintf("%d/%d/b", p, r)})
				}
				if err := o.Append(context.Background(), events); err != nil {
					errs <- err
					return
				}
				for _, e := range events {
					own[p] = append(own[p], e.ID)
				}
				if len(events) == 2 && events[1].Seq != events[0].Seq+1 {
					errs <- fmt.Errorf("one Append's events got seq %d and %d, not consecutive", events[0].Seq, events[1].Seq)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := o.delivered()
	const total = publishers * (rounds + rounds/2)
	if len(got) != total {
		t.Fatalf("delivered %d events, want %d", len(got), total)
	}
	seen := make(map[string]string)
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("delivery %d has seq %d: not in sequence order", i, e.Seq)
		}
		seen[e.ID] = e.Data
	}
	for p, list := range own {
		for _, id := range list {
			if !strings.HasPrefix(seen[id], fmt.Sprintf("%d/", p)) {
				t.Fatalf("publisher %d was acked id %q, which delivered %q", p, id, seen[id])
			}
		}
	}
	if rep := o.replay(start); len(rep.Events) != total || rep.Reset != "" {
		t.Fatalf("replay holds %d events (reset %q), want %d", len(rep.Events), rep.Reset, total)
	}
	o.mu.Lock()
	t.Logf("%d Appends delivered in %d commits", publishers*rounds, o.calls)
	o.mu.Unlock()
}

func TestIdempotency(t *testing.T) {
	path := dbPath(t)
	clk := &clock{now: t0}
	ret := hub.Retention{History: 100, Idempotency: time.Minute}
	o := openAt(t, path, ret, clk)
	keyed := func(key string) *hub.Event {
		return &hub.Event{Topics: []string{"a"}, Data: "x", IdempotencyKey: key}
	}
	append1 := func(e *hub.Event) *hub.Event {
		t.Helper()
		if err := o.Append(context.Background(), []*hub.Event{e}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	first := append1(keyed("k1"))
	if first.Repeated() {
		t.Fatal("a first publish is not a repeat")
	}
	again := append1(keyed("k1"))
	if !again.Repeated() || again.ID != first.ID {
		t.Fatalf("repeat: repeated %v id %q, want the first ack %q", again.Repeated(), again.ID, first.ID)
	}
	// A repeat inside one Append is stored once too.
	pair := []*hub.Event{keyed("k2"), keyed("k2")}
	if err := o.Append(context.Background(), pair); err != nil {
		t.Fatal(err)
	}
	if pair[0].Repeated() || !pair[1].Repeated() || pair[1].ID != pair[0].ID {
		t.Fatalf("in-call repeat: %+v / %+v", pair[0].Ack(), pair[1].Ack())
	}
	if o.Len() != 2 || len(o.delivered()) != 2 {
		t.Fatalf("stored %d, delivered %d; want each key once", o.Len(), len(o.delivered()))
	}

	// After a restart the keys are still known.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	o = openAt(t, path, ret, clk)
	if retry := append1(keyed("k1")); !retry.Repeated() || retry.ID != first.ID {
		t.Fatalf("retry after reopen: repeated %v id %q, want %q", retry.Repeated(), retry.ID, first.ID)
	}
	if len(o.delivered()) != 0 || o.Len() != 2 {
		t.Fatalf("a retry after reopen was stored or delivered")
	}
	// Once the window has passed, the key is new again, and forgotten in
	// the file too.
	clk.Advance(time.Minute)
	if late := append1(keyed("k1")); late.Repeated() || late.ID == first.ID {
		t.Fatalf("a key past its window is stored anew; got repeated %v id %q", late.Repeated(), late.ID)
	}
	if o.tally.keys != 1 {
		t.Fatalf("the file keeps %d keys, want only the one within its window", o.tally.keys)
	}
}

func TestIdempotencyRacingRetries(t *testing.T) {
	// Retries of one publish racing each other, within one commit or
	// across several: exactly one is stored, all get its ack.
	o := openAt(t, dbPath(t), keepAll, nil)
	const retries = 24
	acks := make([]hub.Ack, retries)
	var wg sync.WaitGroup
	for i := range retries {
		wg.Go(func() {
			e := &hub.Event{Topics: []string{"a"}, Data: "once", IdempotencyKey: "same"}
			if err := o.Append(context.Background(), []*hub.Event{e}); err != nil {
				t.Error(err)
			}
			acks[i] = e.Ack()
		})
	}
	wg.Wait()
	if got := o.delivered(); len(got) != 1 || o.Len() != 1 {
		t.Fatalf("delivered %d, stored %d; want exactly one", len(got), o.Len())
	}
	for i, a := range acks {
		if a.ID != acks[0].ID || a.ID == "" {
			t.Fatalf("retry %d acked %q, retry 0 %q", i, a.ID, acks[0].ID)
		}
	}
}

func TestFailedCommit(t *testing.T) {
	// A commit that cannot reach the disk fails every Append of its batch
	// with ErrUnavailable; nothing of it is delivered, replayed or kept.
	path := dbPath(t)
	o := openAt(t, path, keepAll, nil)
	ok := o.publish("a")
	head := o.head()
	if err := o.file.Close(); err != nil { // the fault: writes now fail
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	failed := make([][]*hub.Event, 8)
	for i := range errs {
		wg.Go(func() {
			failed[i] = []*hub.Event{{Topics: []string{"a"}, Data: "lost", IdempotencyKey: fmt.Sprint("k", i)}}
			errs[i] = o.Append(context.Background(), failed[i])
		})
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, hub.ErrUnavailable) {
			t.Fatalf("Append %d: %v, want an error wrapping ErrUnavailable", i, err)
		}
		if failed[i][0].ID != "" {
			t.Fatalf("a failed event keeps id %q", failed[i][0].ID)
		}
	}
	if got := o.delivered(); len(got) != 1 {
		t.Fatalf("delivered %d events, want only the one committed", len(got))
	}
	if o.Healthy() == nil || !errors.Is(o.Healthy(), hub.ErrUnavailable) {
		t.Fatalf("Healthy() = %v after a failed commit", o.Healthy())
	}
	if o.head() != head || o.Len() != 1 {
		t.Fatalf("head %+v Len %d after failures, want %+v and 1", o.head(), o.Len(), head)
	}
	wantReplay(t, o.replay(hub.FormatID(o.epoch, 0)), "", ok)
	_ = o.Close() // the file is gone from under it

	o = openAt(t, path, keepAll, nil)
	wantReplay(t, o.replay(hub.FormatID(o.epoch, 0)), "", ok)
	if o.head() != head {
		t.Fatalf("head after reopen %+v, want %+v", o.head(), head)
	}
	// The failed keys were not remembered: a retry is stored.
	retry := []*hub.Event{{Topics: []string{"a"}, Data: "retried", IdempotencyKey: "k0"}}
	if err := o.Append(context.Background(), retry); err != nil || retry[0].Repeated() {
		t.Fatalf("retry of a failed publish: err %v, repeated %v", err, retry[0].Repeated())
	}
}

func TestCloseFinishesQueuedAppends(t *testing.T) {
	// Appends racing Close either fail with ErrHubClosed or are on disk.
	path := dbPath(t)
	o := openAt(t, path, keepAll, nil)
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				e := &hub.Event{Topics: []string{"a"}, Data: "x"}
				err := o.Append(context.Background(), []*hub.Event{e})
				if errors.Is(err, hub.ErrHubClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, e.ID)
				mu.Unlock()
			}
		})
	}
	for len(o.delivered()) < 50 {
		time.Sleep(time.Millisecond)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	o = openAt(t, path, keepAll, nil)
	rep := o.replay(hub.FormatID(o.epoch, 0))
	stored := ids(rep.Events)
	for _, id := range acked {
		if !slices.Contains(stored, id) {
			t.Fatalf("acked %s is not in the file", id)
		}
	}
}

func TestSecondOpenerFails(t *testing.T) {
	path := dbPath(t)
	openAt(t, path, keepAll, nil)
	_, err := Open(path, 100*time.Millisecond, hub.TransportConfig{Deliver: func([]*hub.Event) {}})
	if err == nil || !strings.Contains(err.Error(), "bolt file "+path+" is in use by another process") {
		t.Fatalf("second open: %v, want the file named as in use", err)
	}
}

func TestFileSizeStaysBounded(t *testing.T) {
	// Publishing fifty times the history: bolt reuses the pages the trimmed
	// events freed, so the file stays under sizeBound.
	const history, eventSize, total = 200, 1024, 50 * 200
	path := dbPath(t)
	o := openAt(t, path, hub.Retention{History: history, Idempotency: time.Minute}, nil)
	data := strings.Repeat("x", eventSize)
	var peak int64
	for i := 0; i < total; i += 10 {
		batch := make([]*hub.Event, 10)
		for j := range batch {
			batch[j] = &hub.Event{Topics: []string{"news"}, Data: data}
		}
		if err := o.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, fi.Size())
	}
	bound := SizeBound(history, eventSize)
	t.Logf("history %d x %d B: file peaked at %d B over %d events; bound %d B", history, eventSize, peak, total, bound)
	if peak > bound {
		t.Fatalf("file grew to %d bytes, over the bound of %d", peak, bound)
	}
}
