package hub

import "strings"

// DroppedTopicsKept bounds the summary of events that left the history: it
// remembers this many distinct topics. A resuming subscriber is told that
// it missed nothing, rather than sent a reset, as long as events of at most
// this many topics left the history after its Last-Event-ID.
const DroppedTopicsKept = 4096

// DroppedTopics summarises the events that left a history, so that a
// resume from an id older than the history can still tell whether it
// missed anything on its topics: for each topic, the sequence number of its
// newest dropped event, for at most limit topics. Below floor it knows
// nothing: an eviction raised it to the evicted topic's sequence.
//
// The topics form a list ordered by sequence, oldest first. Events leave a
// history in sequence order, so a topic that drops again moves to the end,
// the eviction takes the front, and a question about the events after a
// sequence walks back from the end only as far as that sequence.
type DroppedTopics struct {
	limit          int
	byTopic        map[string]*droppedTopic
	oldest, newest *droppedTopic
	floor          uint64
}

type droppedTopic struct {
	topic      string
	seq        uint64
	prev, next *droppedTopic
}

func NewDroppedTopics(limit int) DroppedTopics {
	return DroppedTopics{limit: limit, byTopic: make(map[string]*droppedTopic)}
}

// Add records that e, with sequence seq, left the history. Events for one
// connection are never replayed, so their loss cannot hurt a resume.
func (d *DroppedTopics) Add(e *Event, seq uint64) {
	if e.Connection != "" {
		return
	}
	for _, t := range e.Topics {
		n := d.byTopic[t]
		switch {
		case n != nil:
			d.unlink(n)
		case len(d.byTopic) >= d.limit:
			n = d.oldest
			d.unlink(n)
			delete(d.byTopic, n.topic)
			d.floor = max(d.floor, n.seq)
			n.topic = t
			d.byTopic[t] = n
		default:
			n = &droppedTopic{topic: t}
			d.byTopic[t] = n
		}
		n.seq = seq
		d.append(n)
	}
}

// Missed reports whether an event matching one of the selectors was dropped
// after sequence after. known is false when the summary cannot tell: after
// lies below the floor.
func (d *DroppedTopics) Missed(after uint64, selectors []string) (missed, known bool) {
	if after < d.floor {
		return false, false
	}
	prefixes := false
	for _, sel := range selectors {
		if n := d.byTopic[sel]; n != nil && n.seq > after {
			return true, true
		}
		prefixes = prefixes || strings.HasSuffix(sel, "*")
	}
	if !prefixes {
		return false, true
	}
	for n := d.newest; n != nil && n.seq > after; n = n.prev {
		for _, sel := range selectors {
			if strings.HasSuffix(sel, "*") && SelectorMatches(sel, n.topic) {
				return true, true
			}
		}
	}
	return false, true
}

func (d *DroppedTopics) unlink(n *droppedTopic) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		d.oldest = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		d.newest = n.prev
	}
	n.prev, n.next = nil, nil
}

func (d *DroppedTopics) append(n *droppedTopic) {
	n.prev = d.newest
	if d.newest != nil {
		d.newest.next = n
	} else {
		d.oldest = n
	}
	d.newest = n
}

// Forget makes the summary know nothing of the events up to sequence
// through, as if they had been dropped before it was kept: a durable
// transport that reopens a history whose earlier drops it did not record
// calls it with the newest sequence dropped, so that a resume from before
// it is told it may have missed events, never that it missed nothing.
func (d *DroppedTopics) Forget(through uint64) { d.floor = max(d.floor, through) }
