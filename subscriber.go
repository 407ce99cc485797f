package caddysse

import (
	"cmp"
	"sync"
	"sync/atomic"
	"time"
)

// Why a subscriber's stream ended; also the label of the dropped counter.
const (
	ReasonClientGone   = "client_gone"
	ReasonQueueFull    = "queue_full"
	ReasonWriteFailed  = "write_failed"
	ReasonMaxDuration  = "max_duration"
	ReasonStopping     = "stopping"
	ReasonHubClosed    = "hub_closed"
	ReasonPollComplete = "poll_complete"
	ReasonTokenExpired = "token_expired"
	ReasonAdmin        = "admin" // disconnected through the admin API
)

// Subscriber is one open stream. The hub pushes events into its queue; the
// goroutine serving the stream takes them out in batches and writes them.
// The queue holds pointers to shared, already-encoded events and is
// allocated only while events are waiting, so an idle subscriber costs a few
// hundred bytes.
type Subscriber struct {
	// ID is the connection id, sent in the "connected" event; publishers
	// use it to target ("connection") or skip ("exclude") this stream.
	ID string
	// Topics are the resolved selectors.
	Topics []string
	// RemoteAddr is the client's address.
	RemoteAddr string
	// ConnectedAt is when the subscription started.
	ConnectedAt time.Time

	limit    int       // most events the queue may hold
	deadline time.Time // when the stream must end; zero for never
	// deadlineReason is why the stream ends at its deadline; empty for
	// max_duration.
	deadlineReason string

	// pendingRetry is the retry line that waits for the stream's first
	// event (see around); only the stream's writer touches it.
	pendingRetry []byte

	// mark is the last publish sequence delivered to this subscriber; the
	// hub reads and writes it only under its write lock, to deliver an event
	// once even when several selectors match it.
	mark uint64
	// seq is the subscriber's place in the hub's join order and slot its
	// index there; the hub keeps both under its write lock.
	seq  uint64
	slot int

	lastWrite atomic.Int64 // unix nanoseconds of the last write

	mu        sync.Mutex
	queue     []*Event
	heartbeat bool // a heartbeat is due
	closed    bool
	reason    string
	notify    chan struct{} // capacity 1: "something to do"
	det       *detached     // set when the hub's writers serve the stream
}

func NewSubscriber(id string, topics []string, limit int, now time.Time) *Subscriber {
	s := &Subscriber{
		ID:          id,
		Topics:      topics,
		ConnectedAt: now,
		limit:       limit,
		notify:      make(chan struct{}, 1),
	}
	s.lastWrite.Store(now.UnixNano())
	return s
}

// Notify is signalled when events, a heartbeat or the end of the stream
// are waiting to be taken.
func (s *Subscriber) Notify() <-chan struct{} { return s.notify }

// signal wakes whoever writes the stream; the caller holds s.mu.
func (s *Subscriber) signal() {
	if s.det != nil {
		s.det.pool.schedule(s)
		return
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// push queues an event. A subscriber whose queue is full is closed rather
// than allowed to hold up the publisher or grow without bound: it resumes
// from its Last-Event-ID when it reconnects. A detached stream that needs a
// writer is appended to wake rather than scheduled one by one, so the hub
// hands a whole fan-out to its writers at once.
func (s *Subscriber) push(e *Event, wake *[]*Subscriber) (queued, dropped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, false
	}
	if len(s.queue) >= s.limit {
		s.closeLocked(ReasonQueueFull)
		return false, true
	}
	s.queue = append(s.queue, e)
	if len(s.queue) == 1 {
		if s.det != nil && wake != nil {
			if !s.det.scheduled {
				s.det.scheduled = true
				*wake = append(*wake, s)
			}
		} else {
			s.signal()
		}
	}
	return true, false
}

// Close ends the stream for the given reason; the first reason wins. The
// serving goroutine sees it on its next take.
func (s *Subscriber) Close(reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked(reason)
}

func (s *Subscriber) closeLocked(reason string) bool {
	if s.closed {
		return false
	}
	s.closed, s.reason = true, reason
	s.signal()
	return true
}

// Closed reports whether the stream was closed, and why.
func (s *Subscriber) Closed() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed, s.reason
}

// take hands over everything waiting: the queued events (appended to dst),
// whether a heartbeat is due, and whether the stream is closed.
func (s *Subscriber) take(dst []*Event) (events []*Event, heartbeat, closed bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	events = append(dst, s.queue...)
	clear(s.queue)
	if cap(s.queue) > 64 {
		s.queue = nil // give back what a burst grew
	} else {
		s.queue = s.queue[:0]
	}
	heartbeat, s.heartbeat = s.heartbeat && len(events) == 0, false
	return events, heartbeat, s.closed, s.reason
}

// Wrote records a successful write, which postpones the next heartbeat.
func (s *Subscriber) Wrote(now time.Time) { s.lastWrite.Store(now.UnixNano()) }

// tick is the hub's periodic check: it ends a stream past its deadline and
// asks for a heartbeat after the given silence.
func (s *Subscriber) tick(now time.Time, heartbeat time.Duration) {
	if !s.deadline.IsZero() && now.After(s.deadline) {
		s.Close(cmp.Or(s.deadlineReason, ReasonMaxDuration))
		return
	}
	if heartbeat <= 0 || now.UnixNano()-s.lastWrite.Load() < int64(heartbeat) {
		return
	}
	s.mu.Lock()
	if !s.closed && !s.heartbeat && len(s.queue) == 0 {
		s.heartbeat = true
		s.signal()
	}
	s.mu.Unlock()
}

// EndBy brings the stream's deadline forward to t, for the given reason,
// unless it already ends earlier. A zero t changes nothing.
func (s *Subscriber) EndBy(t time.Time, reason string) {
	if !t.IsZero() && (s.deadline.IsZero() || t.Before(s.deadline)) {
		s.deadline, s.deadlineReason = t, reason
	}
}
