package caddysse

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// HubConfig holds the settings that belong to a hub rather than to one
// route: every block that shares the hub must agree on them.
type HubConfig struct {
	// History is how many events are kept for replay.
	History int
	// MaxAge drops history events older than this; zero keeps them.
	MaxAge time.Duration
	// Heartbeat is the silence after which a stream gets a heartbeat;
	// zero disables heartbeats.
	Heartbeat time.Duration
	// HeartbeatEvent sends a "heartbeat" event instead of a comment.
	HeartbeatEvent bool
	// Name is the hub's name, which its stats events report.
	Name string
	// StatsTopic is the exact topic the hub publishes its counters to
	// every StatsInterval (see statstopic.go); empty publishes none.
	StatsTopic string
	// StatsInterval is the time between stats events; zero or less means
	// defaultStatsInterval.
	StatsInterval time.Duration
}

// Hub is the topic index, history and fan-out shared by every route that
// names it. It knows nothing of HTTP or Caddy: the module adapts it.
//
// Publishing stores an event and queues it to every matching subscriber
// under one lock, and subscribing reads the history and joins the index
// under the same lock, so a resuming subscriber sees every event exactly
// once: from the replay or from its queue, never both, never neither.
type Hub struct {
	mu      sync.RWMutex
	log     Log
	subs    map[string]*Subscriber // by connection id
	index   topicIndex
	pubSeq  uint64        // publish counter, for once-only delivery
	wake    []*Subscriber // detached streams a fan-out gave work, reused
	cfg     HubConfig
	stopped bool
	// latestStats is the newest stats event, which a new subscriber of the
	// stats topic gets at once; nil when the hub publishes none.
	latestStats *Event

	counts  map[string]int // subscribers per selector, for operators
	order   joinOrder      // subscribers in the order they joined
	joinSeq uint64         // join counter, for order

	poolOnce sync.Once
	pool     *writerPool
	poolErr  error

	heartbeatWire atomic.Pointer[[]byte]
	stats         HubStats
	done          chan struct{}
	reconfigured  chan struct{}
}

// HubStats are a hub's counters since it was created.
type HubStats struct {
	Published   atomic.Uint64 // events stored
	Delivered   atomic.Uint64 // events queued to subscribers
	Replayed    atomic.Uint64 // events sent from history on resume
	Connections atomic.Uint64 // subscriptions accepted
	Dropped     atomic.Uint64 // subscribers closed for being too slow
	Subscribers atomic.Int64  // subscriptions open now
	Ended       reasonCounts  // streams ended, by close reason
	Resets      resetCounts   // resumes that could not be complete, by reason
}

// ErrHubClosed is returned by a hub that was shut down.
var ErrHubClosed = errors.New("hub is closed")

// NewHub starts a hub with an in-memory log. Close stops it.
func NewHub(cfg HubConfig) *Hub {
	return newHubWithLog(cfg, newMemoryLog(cfg.History, cfg.MaxAge, time.Now()))
}

func newHubWithLog(cfg HubConfig, log Log) *Hub {
	h := &Hub{
		log:          log,
		subs:         make(map[string]*Subscriber),
		index:        newTopicIndex(),
		counts:       make(map[string]int),
		done:         make(chan struct{}),
		reconfigured: make(chan struct{}, 1),
	}
	h.Configure(cfg)
	go h.sweep()
	return h
}

// Configure applies new hub settings; history keeps its newest events.
func (h *Hub) Configure(cfg HubConfig) {
	h.mu.Lock()
	h.cfg = cfg
	h.log.Configure(cfg.History, cfg.MaxAge)
	if h.latestStats != nil && h.latestStats.Topics[0] != cfg.StatsTopic {
		h.latestStats = nil
	}
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
func (h *Hub) Config() HubConfig {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cfg
}

// HeartbeatWire is what a stream writes when a heartbeat is due.
func (h *Hub) HeartbeatWire() []byte { return *h.heartbeatWire.Load() }

// Stats returns the hub's counters.
func (h *Hub) Stats() *HubStats { return &h.stats }

// Publish stores the events and queues each to its subscribers. It returns
// how many local subscribers each event was queued to. Nothing is queued
// when the log refuses the events.
func (h *Hub) Publish(events []*Event) ([]int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, ErrHubClosed
	}
	if err := h.log.Append(events, time.Now()); err != nil {
		return nil, err
	}
	counts := make([]int, len(events))
	for i, e := range events {
		e.Wire()
		counts[i] = h.fanOut(e)
		h.stats.Delivered.Add(uint64(counts[i]))
	}
	h.stats.Published.Add(uint64(len(events)))
	return counts, nil
}

// fanOut queues e to every subscriber it is for and returns how many it
// was queued to; the caller counts those as delivered when they are. Called
// with h.mu held.
func (h *Hub) fanOut(e *Event) int {
	h.pubSeq++
	seq, n, dropped := h.pubSeq, 0, 0
	deliver := func(s *Subscriber) {
		if s.mark == seq || s.ID == e.Exclude {
			return
		}
		s.mark = seq
		queued, drop := s.push(e, &h.wake)
		if queued {
			n++
		}
		if drop {
			dropped++
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
	if len(h.wake) > 0 {
		h.pool.enqueue(h.wake)
		clear(h.wake)
		h.wake = h.wake[:0]
	}
	h.stats.Dropped.Add(uint64(dropped))
	return n
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
	// Head is the id of the newest event stored when the subscription
	// started: where a client with no events yet stands.
	Head string
}

// Subscribe joins the hub. With a non-empty lastEventID, the events stored
// after it that the subscriber may see are returned for replay.
func (h *Hub) Subscribe(s *Subscriber, lastEventID string) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, ErrHubClosed
	}
	sub := &Subscription{Subscriber: s, Head: h.log.LastID(), Requested: lastEventID}
	if lastEventID != "" {
		sub.Replay, sub.Reset = h.log.After(lastEventID, time.Now(), s.Topics)
		if sub.Reset != "" {
			// A partial replay applied on top of state the application
			// refetches would apply some events twice: start from Head.
			sub.Replay = nil
		}
		h.stats.Replayed.Add(uint64(len(sub.Replay)))
		h.stats.Resets.add(sub.Reset)
	}
	h.subs[s.ID] = s
	for _, sel := range s.Topics {
		h.counts[sel]++
	}
	h.index.add(s)
	h.joinSeq++
	s.seq = h.joinSeq
	h.order.add(s)
	if e := h.latestStats; e != nil && MatchesAny(s.Topics, e.Topics) {
		s.push(e, nil)
	}
	h.stats.Connections.Add(1)
	h.stats.Subscribers.Add(1)
	return sub, nil
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
	defer h.mu.RUnlock()
	return Info{Subscribers: len(h.subs), Topics: maps.Clone(h.counts), History: h.log.Len(), LastID: h.log.LastID()}
}

// Close ends every stream and stops the hub.
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
	h.poolOnce.Do(func() { h.poolErr = ErrHubClosed }) // none starts now
	if h.pool != nil {
		h.pool.close()
	}
}

// writers returns the pool that writes detached streams, starting it on
// first use.
func (h *Hub) writers() (*writerPool, error) {
	h.poolOnce.Do(func() { h.pool, h.poolErr = newWriterPool(h) })
	return h.pool, h.poolErr
}

// sweep runs the periodic checks, heartbeats and deadlines, over all
// subscribers, so no stream needs a timer of its own, and publishes the
// hub's stats events when it has a stats topic.
func (h *Hub) sweep() {
	t := time.NewTicker(h.sweepInterval())
	defer t.Stop()
	var stats statsTicker
	defer stats.stop()
	for {
		select {
		case <-h.done:
			return
		case <-h.reconfigured:
			t.Reset(h.sweepInterval())
			stats.configure(h, time.Now())
		case now := <-stats.c():
			h.publishStats(now, &stats.prev)
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
