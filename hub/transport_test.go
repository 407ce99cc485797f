package hub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// laggyOpener opens laggyTransports: a test transport with the habits of
// one that does I/O. Appends and replays take a while, events are
// delivered by a goroutine of their own some time after they are stored
// (so a replay can see events the hub has not delivered yet), and every
// failEvery-th append fails with nothing stored.
type laggyOpener struct{ failEvery int }

func (o *laggyOpener) OpenTransport(cfg TransportConfig) (Transport, error) {
	t := &laggyTransport{
		log:       newMemoryLog(cfg.Retention.History, cfg.Retention.MaxAge, time.Now()),
		deliver:   cfg.Deliver,
		failEvery: o.failEvery,
		pending:   make(chan laggyBatch, 1024),
	}
	go t.deliverLate()
	return t, nil
}

type laggyTransport struct {
	deliver   func([]*Event)
	failEvery int
	pending   chan laggyBatch

	mu      sync.Mutex
	log     *memoryLog
	appends int
	closed  bool
}

type laggyBatch struct {
	events    []*Event
	delivered chan struct{}
}

func lag(max time.Duration) { time.Sleep(rand.N(max)) }

func (t *laggyTransport) Append(_ context.Context, events []*Event) error {
	lag(200 * time.Microsecond)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrHubClosed
	}
	t.appends++
	if t.failEvery > 0 && t.appends%t.failEvery == 0 {
		t.mu.Unlock()
		return fmt.Errorf("%w: injected failure", ErrUnavailable)
	}
	t.log.Append(events, time.Now())
	b := laggyBatch{events: events, delivered: make(chan struct{})}
	t.pending <- b // in store order
	t.mu.Unlock()
	<-b.delivered
	return nil
}

func (t *laggyTransport) deliverLate() {
	for b := range t.pending {
		lag(300 * time.Microsecond)
		t.deliver(b.events)
		close(b.delivered)
	}
}

func (t *laggyTransport) Replay(_ context.Context, after string, selectors []string) (Replay, error) {
	lag(2 * time.Millisecond)
	t.mu.Lock()
	defer t.mu.Unlock()
	events, reset := t.log.After(after, time.Now(), selectors)
	rep := Replay{Events: events, Reset: reset}
	if reset == "" {
		_, rep.After, _ = ParseID(after)
	}
	return rep, nil
}

func (t *laggyTransport) Head(context.Context) (Position, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Position{ID: t.log.LastID(), Seq: t.log.seq}, nil
}

func (t *laggyTransport) Configure(r Retention) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log.Configure(r.History, r.MaxAge)
}

func (t *laggyTransport) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.log.Len()
}

func (t *laggyTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.pending)
	}
	return nil
}
