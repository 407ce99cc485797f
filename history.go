package caddysse

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Log stores a hub's events in order and assigns their ids. It is the seam
// for other transports: a Redis stream or a file can implement it, with ids
// of their own, as long as ids are strictly increasing within one epoch and
// After can tell an id it cannot resume from.
//
// A hub calls a Log only while holding its own lock, so implementations need
// no locking of their own for the hub's sake.
type Log interface {
	// Append stores the events, in order, setting their ID and Time. When it
	// returns an error nothing was stored and no ID was assigned.
	Append(events []*Event, now time.Time) error
	// After returns the stored events that follow lastID and match one of
	// the selectors, oldest first; events for one connection are never
	// replayed. The reason is empty when that list is complete, else it
	// says why events matching the selectors may be missing. Events of
	// other topics that are gone do not make it incomplete.
	After(lastID string, now time.Time, selectors []string) ([]*Event, ResetReason)
	// LastID is the id of the newest event stored; before the first event
	// it is an id that After resumes from completely.
	LastID() string
	// Len is the number of events kept.
	Len() int
	// Configure changes how many events are kept and for how long; zero
	// maxAge keeps events regardless of age.
	Configure(size int, maxAge time.Duration)
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

// memoryLog is the default Log: a ring of the newest events, with ids of
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

func (l *memoryLog) Append(events []*Event, now time.Time) error {
	for _, e := range events {
		l.seq++
		e.ID = l.epoch + "-" + strconv.FormatUint(l.seq, 10)
		e.Time = now
		l.push(e)
	}
	return nil
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

func (l *memoryLog) LastID() string {
	return l.epoch + "-" + strconv.FormatUint(l.seq, 10)
}

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

// ParseID splits an id of the memory log into its epoch and sequence.
func ParseID(id string) (epoch string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	return id[:i], seq, err == nil
}
