package hub

import (
	"slices"
	"time"
)

// MaxIdempotencyKeys bounds how many idempotency keys a transport
// remembers; beyond it the oldest are forgotten first, before their window
// ends.
const MaxIdempotencyKeys = 100_000

// Keys remembers the acknowledgements of the events stored under an
// idempotency key, for a window of time and at most MaxIdempotencyKeys of
// them. Transports use it to recognise a repeated publish; it does no
// locking of its own.
type Keys struct {
	window time.Duration
	acks   map[string]Ack
	order  []keyAt // oldest first, from start
	start  int
}

type keyAt struct {
	key string
	at  time.Time
}

// NewKeys remembers keys for window; zero remembers none.
func NewKeys(window time.Duration) *Keys {
	return &Keys{window: window, acks: make(map[string]Ack)}
}

// SetWindow changes how long keys are remembered.
func (k *Keys) SetWindow(window time.Duration) { k.window = window }

// Window is how long keys are remembered.
func (k *Keys) Window() time.Duration { return k.window }

// Lookup returns the ack stored under key, if it is still remembered at now.
func (k *Keys) Lookup(key string, now time.Time) (Ack, bool) {
	if key == "" || k.window <= 0 {
		return Ack{}, false
	}
	k.expire(now)
	a, ok := k.acks[key]
	return a, ok
}

// Add remembers the ack of the event stored under key at the ack's time.
func (k *Keys) Add(key string, a Ack) {
	if key == "" || k.window <= 0 {
		return
	}
	if _, ok := k.acks[key]; !ok {
		k.order = append(k.order, keyAt{key, a.Time})
	}
	k.acks[key] = a
	for len(k.acks) > MaxIdempotencyKeys {
		k.forgetOldest()
	}
}

// Len is how many keys are remembered.
func (k *Keys) Len() int { return len(k.acks) }

func (k *Keys) expire(now time.Time) {
	cutoff := now.Add(-k.window)
	for k.start < len(k.order) && k.order[k.start].at.Before(cutoff) {
		k.forgetOldest()
	}
}

func (k *Keys) forgetOldest() {
	delete(k.acks, k.order[k.start].key)
	k.order[k.start] = keyAt{}
	k.start++
	if k.start >= 1024 && 2*k.start >= len(k.order) {
		k.order = append(k.order[:0], k.order[k.start:]...)
		k.start = 0
	}
}

// Dedupe applies the keys to events about to be stored at now: an event
// whose key is remembered, or repeats the key of an earlier event of the
// same call, is marked a Repeat. It returns the events to store, in order.
// Repeats of a key first seen in this call get their ack from Settle.
func (k *Keys) Dedupe(events []*Event, now time.Time) (fresh []*Event) {
	if !slices.ContainsFunc(events, func(e *Event) bool { return e.IdempotencyKey != "" }) {
		return events
	}
	fresh = make([]*Event, 0, len(events))
	var inCall map[string]bool
	for _, e := range events {
		if e.IdempotencyKey == "" {
			fresh = append(fresh, e)
			continue
		}
		if a, ok := k.Lookup(e.IdempotencyKey, now); ok {
			e.Repeat(a)
			continue
		}
		if inCall[e.IdempotencyKey] {
			e.repeat = true // Settle fills in the first one's ack
			continue
		}
		if inCall == nil {
			inCall = make(map[string]bool)
		}
		inCall[e.IdempotencyKey] = true
		fresh = append(fresh, e)
	}
	return fresh
}

// Settle remembers the keys of the events of a call once they are stored
// and delivered, and gives the repeats within the call their first
// event's ack.
func (k *Keys) Settle(events []*Event) {
	if !slices.ContainsFunc(events, func(e *Event) bool { return e.IdempotencyKey != "" }) {
		return
	}
	var first map[string]Ack
	for _, e := range events {
		switch {
		case e.IdempotencyKey == "":
		case !e.repeat:
			k.Add(e.IdempotencyKey, e.Ack())
			if first == nil {
				first = make(map[string]Ack)
			}
			first[e.IdempotencyKey] = e.Ack()
		case e.ID == "":
			e.Repeat(first[e.IdempotencyKey])
		}
	}
}
