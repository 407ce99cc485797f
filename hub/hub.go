// Package hub is caddy-sse's event hub: events and their SSE encoding, the
// topic index, subscribers, fan-out, and the transports that store events.
// It knows nothing of HTTP or Caddy; the module at the repository's root
// adapts it, and transports in other packages implement its Transport.
package hub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Config holds the settings that belong to a hub rather than to one route:
// every route that shares the hub must agree on them.
type Config struct {
	// Name is the hub's name; transports derive their keys from it.
	Name string
	// Retention is how many events the transport keeps, for how long, and
	// how long it remembers idempotency keys.
	Retention
	// Heartbeat is the silence after which a stream gets a heartbeat;
	// zero disables heartbeats.
	Heartbeat time.Duration
	// HeartbeatEvent sends a "heartbeat" event instead of a comment.
	HeartbeatEvent bool
}

// Hub is the topic index and fan-out shared by every route that names it,
// in front of a transport that stores the events.
//
// Every stored event reaches the fan-out through the transport's Deliver
// callback. Subscribing joins the index first, then asks the transport for
// the replay without the hub's lock held, and keeps of the replay only
// what was stored before it joined: the rest reaches its queue live. So a
// resuming subscriber sees every event exactly once, from the replay or
// from its queue, never both, never neither.
type Hub struct {
	transport Transport
	logger    *zap.Logger

	mu      sync.RWMutex
	subs    map[string]*Subscriber // by connection id
	index   topicIndex
	head    Position      // the newest event delivered
	pubSeq  uint64        // fan-out counter, for once-only delivery
	wake    []*Subscriber // attached streams a fan-out gave work, reused
	cfg     Config
	stopped bool
	// pinned is the event a new subscriber of its topics gets at once
	// (see Pin); nil when there is none.
	pinned *Event

	counts  map[string]int // subscribers per selector, for operators
	order   joinOrder      // subscribers in the order they joined
	joinSeq uint64         // join counter, for order

	heartbeatWire atomic.Pointer[[]byte]
	stats         Stats
	done          chan struct{}
	reconfigured  chan struct{}
}

// ErrHubClosed is returned by a hub that was shut down.
var ErrHubClosed = errors.New("hub is closed")

// New starts a hub on the transport open opens, the memory transport when
// open is nil. Close stops it.
func New(cfg Config, open Opener, logger *zap.Logger) (*Hub, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if open == nil {
		open = Memory{}
	}
	h := &Hub{
		logger:       logger,
		subs:         make(map[string]*Subscriber),
		index:        newTopicIndex(),
		counts:       make(map[string]int),
		done:         make(chan struct{}),
		reconfigured: make(chan struct{}, 1),
	}
	t, err := open.OpenTransport(TransportConfig{Hub: cfg.Name, Retention: cfg.Retention, Deliver: h.deliver, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("opening transport: %w", err)
	}
	head, err := t.Head(context.Background())
	if err != nil {
		_ = t.Close()
		return nil, fmt.Errorf("reading transport head: %w", err)
	}
	h.transport = t
	h.mu.Lock()
	if head.Seq >= h.head.Seq { // Deliver may already have moved it on
		h.head = head
	}
	h.mu.Unlock()
	h.configure(cfg)
	go h.sweep()
	return h, nil
}

// Configure applies new hub settings; history keeps its newest events.
func (h *Hub) Configure(cfg Config) {
	h.transport.Configure(cfg.Retention)
	h.configure(cfg)
}

func (h *Hub) configure(cfg Config) {
	h.mu.Lock()
	h.cfg = cfg
	h.mu.Unlock()
	hb := []byte(":\n") // a comment needs no blank line, and some clients dispatch one
	if cfg.HeartbeatEvent {
		hb = AppendEvent(nil, "", "heartbeat", "", 0)
	}
	h.heartbeatWire.Store(&hb)
	select {
	case h.reconfigured <- struct{}{}:
	default:
	}
}

// Config returns the hub's current settings.
func (h *Hub) Config() Config {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cfg
}

// HeartbeatWire is what a stream writes when a heartbeat is due.
func (h *Hub) HeartbeatWire() []byte { return *h.heartbeatWire.Load() }

// Stats returns the hub's counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Publish stores the events through the transport, which delivers them to
// the fan-out. Afterwards each event's Ack tells its id and, once it was
// delivered, how many local subscribers it was queued to. Nothing is
// stored or delivered when it returns an error.
func (h *Hub) Publish(ctx context.Context, events []*Event) error {
	h.mu.RLock()
	stopped := h.stopped
	h.mu.RUnlock()
	if stopped {
		return ErrHubClosed
	}
	return h.transport.Append(ctx, events)
}

// deliver is the transports' callback: the one road by which stored
// events, local or remote, reach the subscribers.
func (h *Hub) deliver(events []*Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	for _, e := range events {
		e.Wire()
		e.queued = h.fanOut(e)
		h.stats.Delivered.Add(uint64(e.queued))
		h.head = Position{ID: e.ID, Seq: e.Seq}
	}
	h.stats.Published.Add(uint64(len(events)))
}

// Pin fans e out without storing it, and hands it at once to every later
// subscriber of its topics until another event is pinned; nil unpins. The
// hub's stats events are pinned: a new dashboard shows numbers at once.
func (h *Hub) Pin(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	h.pinned = e
	if e != nil {
		e.Wire()
		h.fanOut(e)
	}
}

// fanOut queues e to every subscriber it is for and returns how many it
// was queued to. Called with h.mu held.
func (h *Hub) fanOut(e *Event) int {
	h.pubSeq++
	seq, n := h.pubSeq, 0
	deliver := func(s *Subscriber) {
		if s.mark == seq || s.ID == e.Exclude {
			return
		}
		s.mark = seq
		if s.push(e, &h.wake) {
			n++
		}
	}
	if e.Connection != "" {
		if s := h.subs[e.Connection]; s != nil {
			deliver(s)
		}
	} else {
		// "*" is the empty prefix: the index visits its subscribers too.
		for _, t := range e.Topics {
			h.index.each(t, deliver)
		}
	}
	h.wakeWriters()
	return n
}

// wakeWriters hands the attached streams a fan-out gave work to their
// writers, each writer's in one call. Called with h.mu held.
func (h *Hub) wakeWriters() {
	for rest := h.wake; len(rest) > 0; {
		w, n := rest[0].writer, 1
		for n < len(rest) && rest[n].writer == w {
			n++
		}
		w.Wake(rest[:n])
		rest = rest[n:]
	}
	clear(h.wake)
	h.wake = h.wake[:0]
}

// Subscription is what Subscribe hands to a new stream.
type Subscription struct {
	*Subscriber
	// Replay holds the events after the requested Last-Event-ID.
	Replay []*Event
	// Requested is the Last-Event-ID the subscriber resumed from.
	Requested string
	// Reset is set when the replay cannot be complete; there is no replay
	// then, and the subscriber starts from Head.
	Reset ResetReason
	// Head is the id of the newest event delivered when the subscription
	// started: where a client with no events yet stands.
	Head string
}

// Subscribe joins the hub. With a non-empty lastEventID, the events stored
// after it that the subscriber may see are returned for replay.
func (h *Hub) Subscribe(ctx context.Context, s *Subscriber, lastEventID string) (*Subscription, error) {
	head, err := h.join(s)
	if err != nil {
		return nil, err
	}
	sub := &Subscription{Subscriber: s, Head: head.ID, Requested: lastEventID}
	if lastEventID == "" || lastEventID == head.ID {
		return sub, nil
	}
	rep, err := h.transport.Replay(ctx, lastEventID, s.Topics)
	if err != nil {
		h.Unsubscribe(s)
		return nil, fmt.Errorf("replaying history: %w", err)
	}
	sub.Reset = rep.Reset
	if rep.Reset == "" {
		// What was stored after the hub's head when s joined reaches its
		// queue live; what its client already has must not.
		for _, e := range rep.Events {
			if e.Seq <= head.Seq {
				sub.Replay = append(sub.Replay, e)
			}
		}
		if rep.After > head.Seq {
			s.skipThrough(rep.After)
		}
	}
	// A partial replay applied on top of state the application refetches
	// would apply some events twice: after a reset it starts from Head.
	h.stats.Replayed.Add(uint64(len(sub.Replay)))
	h.stats.Resets.add(sub.Reset)
	return sub, nil
}

// join adds s to the index and returns the head it joined at.
func (h *Hub) join(s *Subscriber) (Position, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return Position{}, ErrHubClosed
	}
	s.hub = h
	h.subs[s.ID] = s
	for _, sel := range s.Topics {
		h.counts[sel]++
	}
	h.index.add(s)
	h.joinSeq++
	s.seq = h.joinSeq
	h.order.add(s)
	if e := h.pinned; e != nil && MatchesAny(s.Topics, e.Topics) {
		s.push(e, nil)
	}
	h.stats.Connections.Add(1)
	h.stats.Subscribers.Add(1)
	return h.head, nil
}

// Unsubscribe removes a subscriber; it is safe to call more than once.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[s.ID] != s {
		return
	}
	delete(h.subs, s.ID)
	h.index.remove(s)
	for _, sel := range s.Topics {
		if h.counts[sel]--; h.counts[sel] <= 0 {
			delete(h.counts, sel)
		}
	}
	h.order.remove(s)
	h.stats.Subscribers.Add(-1)
	_, reason := s.Closed()
	h.stats.Ended.add(reason)
}

// Info is a snapshot of a hub for operators.
type Info struct {
	Subscribers int
	Topics      map[string]int // subscribers per selector
	History     int
	LastID      string
}

// Info returns a snapshot of the hub. The topic counts are kept as
// subscribers come and go: no subscriber is visited.
func (h *Hub) Info() Info {
	h.mu.RLock()
	info := Info{Subscribers: len(h.subs), Topics: maps.Clone(h.counts), LastID: h.head.ID}
	h.mu.RUnlock()
	info.History = h.transport.Len()
	return info
}

// TransportErr returns why the hub cannot store events now, or nil.
func (h *Hub) TransportErr() error {
	h.mu.RLock()
	stopped := h.stopped
	h.mu.RUnlock()
	if stopped {
		return ErrHubClosed
	}
	if th, ok := h.transport.(Health); ok {
		return th.Healthy()
	}
	return nil
}

// Close ends every stream, stops the hub and closes its transport.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.stopped = true
	for _, s := range h.subs {
		s.Close(ReasonHubClosed)
	}
	h.mu.Unlock()
	close(h.done)
	if err := h.transport.Close(); err != nil {
		h.logger.Error("closing transport", zap.Error(err))
	}
}

// Done is closed when the hub closes.
func (h *Hub) Done() <-chan struct{} { return h.done }

// sweep runs the periodic checks, heartbeats and deadlines, over all
// subscribers, so no stream needs a timer of its own.
func (h *Hub) sweep() {
	t := time.NewTicker(h.sweepInterval())
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-h.reconfigured:
			t.Reset(h.sweepInterval())
		case now := <-t.C:
			h.mu.RLock()
			hb := h.cfg.Heartbeat
			for _, s := range h.subs {
				s.tick(now, hb)
			}
			h.mu.RUnlock()
		}
	}
}

// sweepInterval is a quarter of the heartbeat, within [50ms, 1s]: often
// enough that heartbeats and deadlines are late by little. Without
// heartbeats only max_duration deadlines need it: once a second.
func (h *Hub) sweepInterval() time.Duration {
	hb := h.Config().Heartbeat
	if hb <= 0 {
		return time.Second
	}
	return min(max(hb/4, 50*time.Millisecond), time.Second)
}
