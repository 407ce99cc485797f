package hub

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"
)

// The counters and listings operators read: metrics at scrape time and the
// admin API. Everything here is kept as subscribers come and go, so reading
// it never walks the subscribers under the hub's lock on anyone's behalf but
// the operator's, and then only a bounded page of them.

// Stats are a hub's counters since it was created.
type Stats struct {
	Published   atomic.Uint64 // events delivered to the fan-out
	Delivered   atomic.Uint64 // events queued to subscribers
	Replayed    atomic.Uint64 // events sent from history on resume
	Connections atomic.Uint64 // subscriptions accepted
	Subscribers atomic.Int64  // subscriptions open now
	Ended       reasonCounts  // streams ended, by close reason; see DroppedReasons
	Resets      resetCounts   // resumes that could not be complete, by reason
}

// CloseReasons are the reasons a stream ends, in the order their counters
// are kept; a reason not listed is counted as "other".
var CloseReasons = [...]CloseReason{
	ReasonClientGone,
	ReasonQueueFull,
	ReasonWriteFailed,
	ReasonMaxDuration,
	ReasonStopping,
	ReasonHubClosed,
	ReasonPollComplete,
	ReasonAdmin,
	ReasonTokenExpired,
	"other",
}

// DroppedReasons are the close reasons that count as the hub dropping a
// subscriber: the client neither left nor was rotated or shut down.
var DroppedReasons = []CloseReason{ReasonQueueFull, ReasonWriteFailed, ReasonAdmin}

// reasonCounts counts streams ended, by close reason.
type reasonCounts [len(CloseReasons)]atomic.Uint64

func (c *reasonCounts) add(reason CloseReason) {
	i := slices.Index(CloseReasons[:], reason)
	if i < 0 {
		i = len(CloseReasons) - 1
	}
	c[i].Add(1)
}

// Get returns how many streams ended for the reason.
func (c *reasonCounts) Get(reason CloseReason) uint64 {
	if i := slices.Index(CloseReasons[:], reason); i >= 0 {
		return c[i].Load()
	}
	return 0
}

// ResetReasons are the reasons a resume cannot be complete, in the order
// their counters are kept.
var ResetReasons = [...]ResetReason{ResetUnknown, ResetExpired, ResetEpoch}

// resetCounts counts resets, by reason.
type resetCounts [len(ResetReasons)]atomic.Uint64

func (c *resetCounts) add(reason ResetReason) {
	if i := slices.Index(ResetReasons[:], reason); i >= 0 {
		c[i].Add(1)
	}
}

// Get returns how many subscriptions were reset for the reason.
func (c *resetCounts) Get(reason ResetReason) uint64 {
	if i := slices.Index(ResetReasons[:], reason); i >= 0 {
		return c[i].Load()
	}
	return 0
}

// TopicCount is how many subscribers hold one selector.
type TopicCount struct {
	Topic       string `json:"topic"`
	Subscribers int    `json:"subscribers"`
}

// Busiest returns the n selectors held by the most subscribers, most first,
// ties by name.
func Busiest(counts map[string]int, n int) []TopicCount {
	top := make([]TopicCount, 0, len(counts))
	for t, c := range counts {
		top = append(top, TopicCount{Topic: t, Subscribers: c})
	}
	slices.SortFunc(top, func(a, b TopicCount) int {
		if c := cmp.Compare(b.Subscribers, a.Subscribers); c != 0 {
			return c
		}
		return cmp.Compare(a.Topic, b.Topic)
	})
	return top[:min(n, len(top))]
}

// joinOrder keeps the subscribers in the order they joined, so a listing
// can be paged by a cursor that stays valid while others come and go.
// Leaving leaves a hole, filled in when holes are half the slots.
type joinOrder struct {
	slots []joinSlot
	holes int
}

type joinSlot struct {
	seq uint64
	s   *Subscriber
}

func (o *joinOrder) add(s *Subscriber) {
	s.slot = len(o.slots)
	o.slots = append(o.slots, joinSlot{seq: s.seq, s: s})
}

func (o *joinOrder) remove(s *Subscriber) {
	o.slots[s.slot].s = nil
	o.holes++
	if o.holes < 64 || 2*o.holes < len(o.slots) {
		return
	}
	kept := o.slots[:0]
	for _, slot := range o.slots {
		if slot.s != nil {
			slot.s.slot = len(kept)
			kept = append(kept, slot)
		}
	}
	clear(o.slots[len(kept):])
	o.slots, o.holes = kept, 0
}

// maxScan bounds how many subscribers one listing looks at under the hub's
// lock; a filtered listing may return a short page and a cursor to go on.
const maxScan = 4096

// SubscriberInfo describes one subscriber for operators.
type SubscriberInfo struct {
	ID          string    `json:"id"`
	RemoteAddr  string    `json:"remote_addr"`
	Topics      []string  `json:"topics"`
	ConnectedAt time.Time `json:"connected_at"`
	LastWrite   time.Time `json:"last_write"`
	Queued      int       `json:"queued"`
	// Path is how the stream is served: "detached" (the hub's writers) or
	// "goroutine" (its request's goroutine).
	Path string `json:"path"`
}

// Subscribers lists, in the order they joined, up to limit subscribers
// that joined after the cursor and receive events of topic (any when
// empty). next is the cursor of the following page, or 0 when there is
// none.
func (h *Hub) Subscribers(topic string, after uint64, limit int) (page []SubscriberInfo, next uint64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	slots := h.order.slots
	i, _ := slices.BinarySearchFunc(slots, after+1, func(s joinSlot, seq uint64) int { return cmp.Compare(s.seq, seq) })
	for scanned := 0; i < len(slots); i, scanned = i+1, scanned+1 {
		if len(page) == limit || scanned == maxScan {
			return page, slots[i-1].seq
		}
		s := slots[i].s
		if s == nil || (topic != "" && !MatchesAny(s.Topics, []string{topic})) {
			continue
		}
		page = append(page, s.info())
	}
	return page, 0
}

func (s *Subscriber) info() SubscriberInfo {
	s.mu.Lock()
	queued, detached := len(s.queue), s.writer != nil
	s.mu.Unlock()
	path := "goroutine"
	if detached {
		path = "detached"
	}
	return SubscriberInfo{
		ID:          s.ID,
		RemoteAddr:  s.RemoteAddr,
		Topics:      s.Topics,
		ConnectedAt: s.ConnectedAt,
		LastWrite:   time.Unix(0, s.lastWrite.Load()),
		Queued:      queued,
		Path:        path,
	}
}

// Disconnect closes the stream of one subscriber; it reports false when the
// hub has no subscriber with that id.
func (h *Hub) Disconnect(id string) bool {
	h.mu.RLock()
	s := h.subs[id]
	h.mu.RUnlock()
	if s == nil {
		return false
	}
	s.Close(ReasonAdmin)
	return true
}
