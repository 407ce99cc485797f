package hub

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory opens the memory transport, the default: the newest events in a
// ring in the process, lost when it exits. Appends need no I/O, so it
// stores and delivers them under one lock.
type Memory struct{}

// OpenTransport implements Opener.
func (Memory) OpenTransport(cfg TransportConfig) (Transport, error) {
	return &memoryTransport{
		log:     newMemoryLog(cfg.Retention.History, cfg.Retention.MaxAge, time.Now()),
		keys:    NewKeys(cfg.Retention.Idempotency),
		deliver: cfg.Deliver,
	}, nil
}

type memoryTransport struct {
	mu      sync.Mutex
	log     *memoryLog
	keys    *Keys
	deliver func([]*Event)
	closed  bool
}

func (m *memoryTransport) Append(_ context.Context, events []*Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrHubClosed
	}
	now := time.Now()
	fresh := m.keys.Dedupe(events, now)
	m.log.Append(fresh, now)
	if len(fresh) > 0 {
		m.deliver(fresh)
	}
	m.keys.Settle(events)
	return nil
}

func (m *memoryTransport) Replay(_ context.Context, after string, selectors []string) (Replay, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	events, reset := m.log.After(after, time.Now(), selectors)
	rep := Replay{Events: events, Reset: reset}
	if reset == "" {
		_, rep.After, _ = ParseID(after)
	}
	return rep, nil
}

func (m *memoryTransport) Head(context.Context) (Position, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Position{ID: m.log.LastID(), Seq: m.log.seq}, nil
}

func (m *memoryTransport) Configure(r Retention) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log.Configure(r.History, r.MaxAge)
	m.keys.SetWindow(r.Idempotency)
}

func (m *memoryTransport) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.Len()
}

func (m *memoryTransport) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// ResetReason says why a resume from a Last-Event-ID cannot be complete.
type ResetReason string

// The reasons a resume is incomplete, sent in the "reset" event.
const (
	// ResetUnknown: the id is malformed or newer than anything stored.
	ResetUnknown ResetReason = "unknown"
	// ResetExpired: events after the id that the subscriber would have
	// received were dropped from the history, or may have been: the
	// summary of dropped events no longer reaches back to the id.
	ResetExpired ResetReason = "expired"
	// ResetEpoch: the id comes from an earlier incarnation of the hub.
	ResetEpoch ResetReason = "epoch"
)

// memoryLog is the memory transport's store: a ring of the newest events, with ids of
// the form "<epoch>-<seq>". The epoch names the log's incarnation (see
// newEpoch), so ids from an earlier process or another hub are recognised
// as such, and the sequence counts every event the hub ever stored. Every event that
// leaves the ring, for its size or its age, is noted in dropped, so that a
// subscriber of a quiet topic resumes without a reset.
type memoryLog struct {
	epoch   string
	seq     uint64   // the newest event's sequence number
	ring    []*Event // capacity is the history size
	start   int      // index of the oldest event in ring
	n       int      // events kept
	maxAge  time.Duration
	dropped DroppedTopics
}

func newMemoryLog(size int, maxAge time.Duration, now time.Time) *memoryLog {
	return newMemoryLogWithEpoch(size, maxAge, NewEpoch(now))
}

func newMemoryLogWithEpoch(size int, maxAge time.Duration, epoch string) *memoryLog {
	l := &memoryLog{epoch: epoch, dropped: NewDroppedTopics(DroppedTopicsKept)}
	l.Configure(size, maxAge)
	return l
}

// NewEpoch names a new incarnation of a log: its creation millisecond in
// base 36, then four random base-36 digits, so that two hubs or processes
// started in the same millisecond never accept each other's ids.
func NewEpoch(now time.Time) string {
	epoch := strconv.AppendInt(nil, now.UnixMilli(), 36)
	for range 4 {
		epoch = append(epoch, epochDigits[rand.IntN(len(epochDigits))])
	}
	return string(epoch)
}

const epochDigits = "0123456789abcdefghijklmnopqrstuvwxyz"

// Append stores the events, in order, setting their ID, Seq and Time.
func (l *memoryLog) Append(events []*Event, now time.Time) {
	for _, e := range events {
		l.seq++
		e.ID, e.Seq, e.Time = FormatID(l.epoch, l.seq), l.seq, now
		l.push(e)
	}
}

// push adds e, whose sequence is l.seq, to the ring.
func (l *memoryLog) push(e *Event) {
	size := len(l.ring)
	if size == 0 {
		l.dropped.Add(e, l.seq)
		return
	}
	if l.n < size {
		l.ring[(l.start+l.n)%size] = e
		l.n++
		return
	}
	l.dropped.Add(l.ring[l.start], l.seq-uint64(size))
	l.ring[l.start] = e
	l.start = (l.start + 1) % size
}

func (l *memoryLog) at(i int) *Event { return l.ring[(l.start+i)%len(l.ring)] }

// oldestSeq is the sequence of at(0) when the ring holds events.
func (l *memoryLog) oldestSeq() uint64 { return l.seq - uint64(l.n) + 1 }

// expire drops events older than maxAge.
func (l *memoryLog) expire(now time.Time) {
	if l.maxAge <= 0 {
		return
	}
	cutoff := now.Add(-l.maxAge)
	for l.n > 0 && l.at(0).Time.Before(cutoff) {
		l.dropped.Add(l.at(0), l.oldestSeq())
		l.ring[l.start] = nil
		l.start = (l.start + 1) % len(l.ring)
		l.n--
	}
}

// After returns the stored events that follow lastID and match one of
// the selectors, with the reason the list is incomplete, if it is (see
// Transport.Replay).
func (l *memoryLog) After(lastID string, now time.Time, selectors []string) ([]*Event, ResetReason) {
	epoch, seq, ok := ParseID(lastID)
	switch {
	case !ok:
		return nil, ResetUnknown
	case epoch != l.epoch:
		return nil, ResetEpoch
	case seq > l.seq:
		return nil, ResetUnknown
	}
	l.expire(now)
	oldest := l.oldestSeq() // when the ring is empty, the next event's
	var reason ResetReason
	if seq+1 < oldest {
		// Events after the id are gone; it matters only if one of them
		// was for this subscriber, or if the summary cannot tell.
		if missed, known := l.dropped.Missed(seq, selectors); missed || !known {
			reason = ResetExpired
		}
		seq = oldest - 1
	}
	var out []*Event
	for i := int(seq + 1 - oldest); i < l.n; i++ {
		if e := l.at(i); e.Connection == "" && MatchesAny(selectors, e.Topics) {
			out = append(out, e)
		}
	}
	return out, reason
}

// LastID is the id of the newest event stored, or of the position before
// the first.
func (l *memoryLog) LastID() string { return FormatID(l.epoch, l.seq) }

func (l *memoryLog) Len() int { return l.n }

func (l *memoryLog) Configure(size int, maxAge time.Duration) {
	l.maxAge = maxAge
	if size == len(l.ring) {
		return
	}
	keep := min(l.n, size)
	for i := range l.n - keep {
		l.dropped.Add(l.at(i), l.oldestSeq()+uint64(i))
	}
	ring := make([]*Event, size)
	for i := range keep {
		ring[i] = l.at(l.n - keep + i)
	}
	l.ring, l.start, l.n = ring, 0, keep
}

// FormatID is the id of the event of sequence seq in an epoch:
// "<epoch>-<seq>". The memory and bolt transports use it.
func FormatID(epoch string, seq uint64) string {
	// Formatted on the stack and copied once: this runs for every event.
	var buf [40]byte
	b := append(append(buf[:0], epoch...), '-')
	return string(strconv.AppendUint(b, seq, 10))
}

// ParseID splits an id of FormatID into its epoch and sequence.
func ParseID(id string) (epoch string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	return id[:i], seq, err == nil
}
