package hub

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// CloseReason says why a subscriber's stream ended; it labels the ended
// and dropped counters.
type CloseReason string

// The reasons a stream ends.
const (
	ReasonClientGone   CloseReason = "client_gone"
	ReasonQueueFull    CloseReason = "queue_full"
	ReasonWriteFailed  CloseReason = "write_failed"
	ReasonMaxDuration  CloseReason = "max_duration"
	ReasonStopping     CloseReason = "stopping"
	ReasonHubClosed    CloseReason = "hub_closed"
	ReasonPollComplete CloseReason = "poll_complete"
	ReasonTokenExpired CloseReason = "token_expired"
	ReasonAdmin        CloseReason = "admin" // disconnected through the admin API
)

// Dropped reports whether the hub ended the stream on its own account:
// the client neither left nor was rotated or shut down.
func (r CloseReason) Dropped() bool { return slices.Contains(DroppedReasons, r) }

// Reconnect reports whether the stream's last write should tell the client
// to come back at once (after a shutdown, or with a fresh token) rather
// than after its usual delay.
func (r CloseReason) Reconnect() bool {
	return r == ReasonStopping || r == ReasonHubClosed || r == ReasonTokenExpired
}

// Subscriber is one open stream. The hub pushes events into its queue; the
// stream's writer takes them out in batches (Take) and writes them. The
// writer is either the goroutine serving the request, woken through
// Notify, or a Writer the subscriber is attached to. The queue holds
// pointers to shared, already-encoded events and is allocated only while
// events are waiting, so an idle subscriber costs a few hundred bytes.
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
	// deadlineReason is why the stream ends at its deadline.
	deadlineReason CloseReason

	hub *Hub // set by Subscribe; for the heartbeat
	// pendingRetry is the retry line that waits for the stream's first
	// event (see Take); only the stream's writer touches it.
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
	after     uint64 // events of Seq up to this were replayed: skip them
	heartbeat bool   // a heartbeat is due
	closed    bool
	reason    CloseReason
	notify    chan struct{} // capacity 1: "something to do"
	writer    Writer        // set by Attach
	handle    any           // the writer's own record of the stream, set by Attach
	woken     bool          // the writer was woken and has not released it
}

// A Writer writes the streams of the subscribers attached to it, in place
// of a goroutine each waiting on Notify.
type Writer interface {
	// Wake is called with subscribers that have something to write. A
	// subscriber is woken once, then not again until the writer has
	// called its Release. Wake must not block.
	Wake(subs []*Subscriber)
}

// NewSubscriber makes a subscriber for the selectors whose queue holds at
// most limit events.
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
// are waiting to be taken, unless the subscriber is attached to a Writer.
func (s *Subscriber) Notify() <-chan struct{} { return s.notify }

// Attach hands the stream to w from now on, and wakes it if something is
// already waiting. handle is the writer's own record of the stream, which
// WriterHandle gives back, so that a writer finds its state without a
// lookup of its own.
func (s *Subscriber) Attach(w Writer, handle any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writer, s.handle = w, handle
	if len(s.queue) > 0 || s.heartbeat || s.closed {
		s.signal()
	}
}

// WriterHandle is the handle the stream was attached with; it does not
// change afterwards, so a writer may read it without a lock.
func (s *Subscriber) WriterHandle() any { return s.handle }

// signal wakes whoever writes the stream; the caller holds s.mu.
func (s *Subscriber) signal() {
	if s.writer != nil {
		if !s.woken {
			s.woken = true
			s.writer.Wake([]*Subscriber{s})
		}
		return
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// push queues an event. A subscriber whose queue is full is closed rather
// than allowed to hold up the publisher or grow without bound: it resumes
// from its Last-Event-ID when it reconnects. An attached subscriber that
// needs waking is appended to wake instead, so the hub hands a whole
// fan-out to the writer at once. It reports whether e was queued.
func (s *Subscriber) push(e *Event, wake *[]*Subscriber) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (s.after > 0 && e.ID != "" && e.Seq <= s.after) {
		return false
	}
	if len(s.queue) >= s.limit {
		s.closeLocked(ReasonQueueFull)
		return false
	}
	s.queue = append(s.queue, e)
	if len(s.queue) == 1 {
		if s.writer != nil && wake != nil {
			if !s.woken {
				s.woken = true
				*wake = append(*wake, s)
			}
		} else {
			s.signal()
		}
	}
	return true
}

// skipThrough drops the queued events up to seq, and those pushed later:
// a replay already covers them.
func (s *Subscriber) skipThrough(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.after = seq
	kept := s.queue[:0]
	for _, e := range s.queue {
		if e.ID == "" || e.Seq > seq {
			kept = append(kept, e)
		}
	}
	clear(s.queue[len(kept):])
	s.queue = kept
}

// Close ends the stream for the given reason; the first reason wins. The
// writer sees it on its next take.
func (s *Subscriber) Close(reason CloseReason) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked(reason)
}

func (s *Subscriber) closeLocked(reason CloseReason) bool {
	if s.closed {
		return false
	}
	s.closed, s.reason = true, reason
	s.signal()
	return true
}

// Closed reports whether the stream was closed, and why.
func (s *Subscriber) Closed() (bool, CloseReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed, s.reason
}

// Batch is what one write of a stream carries.
type Batch struct {
	// Head goes before the events: the retry hint waiting for the
	// stream's first event, or a heartbeat.
	Head []byte
	// Events are the events taken, in order.
	Events []*Event
	// Tail goes after them: a short retry hint when the stream ends for a
	// reason that calls the client back at once.
	Tail []byte
	// Closed reports that the stream ends with this write, for Reason.
	Closed bool
	Reason CloseReason
}

// Take hands over everything waiting, with the events appended to dst.
// None of Head and Tail ends with a blank line, so none forms a block a
// client could dispatch: a retry line joins the block of the event after
// it, or, as the stream's last line, is applied when it is read. Only the
// stream's writer calls it.
//
// A burst (more than BurstLen events waiting) is handed over in the queue
// itself, and an empty dst becomes the new queue: under a flood the writer
// and the queue trade the same two buffers back and forth instead of
// growing new ones. dst's elements past its length must be nil. After a
// burst the next small batch is copied into dst and the large queue let
// go; a writer lets go of a large dst likewise once its batch is small
// (KeepBuffer), so an idle stream keeps no burst's memory.
func (s *Subscriber) Take(dst []*Event) Batch {
	s.mu.Lock()
	b := Batch{Closed: s.closed, Reason: s.reason}
	if len(dst) == 0 && len(s.queue) > BurstLen {
		b.Events, s.queue = s.queue, dst
	} else {
		b.Events = append(dst, s.queue...)
		clear(s.queue)
		if cap(s.queue) > BurstLen {
			s.queue = nil // give back what a burst grew
		} else {
			s.queue = s.queue[:0]
		}
	}
	heartbeat := s.heartbeat && len(b.Events) == 0
	s.heartbeat = false
	s.mu.Unlock()

	switch {
	case s.pendingRetry != nil && len(b.Events) > 0:
		b.Head, s.pendingRetry = s.pendingRetry, nil
	case heartbeat && s.hub != nil:
		b.Head = s.hub.HeartbeatWire()
	}
	if b.Closed && b.Reason.Reconnect() {
		b.Tail = RetrySoon()
	}
	return b
}

// BurstLen is the most events a batch holds outside a burst; see Take.
const BurstLen = 64

// KeepBuffer reports whether a writer should keep, for its next Take, the
// buffer a batch of n events came in (cleared), of capacity c: a small
// one always, a large one while the burst it was grown for goes on.
func KeepBuffer(n, c int) bool { return c <= BurstLen || n > BurstLen }

// Release is how an attached stream's writer says it has written what it
// took. It reports true when more is waiting: the subscriber stays woken,
// and the writer serves it again.
func (s *Subscriber) Release() (again bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.woken = len(s.queue) > 0 || s.heartbeat || s.closed
	return s.woken
}

// CarryRetry sets the retry line the stream's first event carries in its
// block (see Take); the stream's writer calls it before its first Take.
func (s *Subscriber) CarryRetry(line []byte) { s.pendingRetry = line }

// Wrote records a successful write, which postpones the next heartbeat.
func (s *Subscriber) Wrote(now time.Time) { s.lastWrite.Store(now.UnixNano()) }

// tick is the hub's periodic check: it ends a stream past its deadline and
// asks for a heartbeat after the given silence.
func (s *Subscriber) tick(now time.Time, heartbeat time.Duration) {
	if !s.deadline.IsZero() && now.After(s.deadline) {
		s.Close(s.deadlineReason)
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
// unless it already ends earlier. A zero t changes nothing. Call it before
// Subscribe.
func (s *Subscriber) EndBy(t time.Time, reason CloseReason) {
	if !t.IsZero() && (s.deadline.IsZero() || t.Before(s.deadline)) {
		s.deadline, s.deadlineReason = t, reason
	}
}
