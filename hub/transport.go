package hub

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// Transport stores a hub's events and hands every stored event to the
// hub's fan-out, through the Deliver callback it was opened with: the
// events the hub appended and, for a transport shared by several nodes,
// the events other nodes stored. Local and remote events take that one
// road, so they are delivered alike.
//
// The hub never holds its own lock while it calls a transport, so a
// transport may do I/O in any method. It calls Deliver one call at a time,
// in the order the events were stored, and never while the hub waits on it
// in Replay or Head (it may from inside Append).
type Transport interface {
	// Append stores the events, in order, setting each one's ID, Seq and
	// Time, and returns once they are stored as durably as the transport
	// promises; they have been handed to Deliver, or will be. When it
	// returns an error, nothing was stored.
	//
	// An event whose IdempotencyKey the transport stored within its
	// idempotency window is not stored again: Append gives it the first
	// event's acknowledgement (see Event.Repeat) and does not deliver it.
	Append(ctx context.Context, events []*Event) error

	// Replay returns the stored events after the id that match one of the
	// selectors, oldest first, leaving out events for one connection. Its
	// Reset is empty when that list is complete, else it says why events
	// matching the selectors may be missing; events of other topics that
	// are gone do not make it incomplete.
	Replay(ctx context.Context, after string, selectors []string) (Replay, error)

	// Head is the position of the newest event stored; before the first
	// event it is a position whose ID Replay resumes from completely.
	Head(ctx context.Context) (Position, error)

	// Configure changes how many events are kept, for how long, and how
	// long idempotency keys are remembered.
	Configure(Retention)

	// Len is the number of events kept.
	Len() int

	// Close releases what the transport holds. The hub calls it once, when
	// it closes, and calls nothing after it.
	Close() error
}

// Replay is what a transport answers a resume with.
type Replay struct {
	// Events are the events to send, oldest first.
	Events []*Event
	// After is the Seq of the id resumed from, when Reset is empty.
	After uint64
	// Reset says why Events cannot be complete; empty when they are.
	Reset ResetReason
}

// Position is where an event stands in its transport's order.
type Position struct {
	// ID is the event's id, as sent to clients.
	ID string
	// Seq orders the events of one epoch: it grows with every event
	// stored, so a hub can merge a replay with live events by it.
	Seq uint64
}

// Retention is how much a transport keeps.
type Retention struct {
	// History is how many events are kept for replay.
	History int
	// MaxAge drops history events older than this; zero keeps them.
	MaxAge time.Duration
	// Idempotency is how long an idempotency key is remembered; zero
	// remembers none.
	Idempotency time.Duration
}

// TransportConfig is what a hub gives the transport it opens.
type TransportConfig struct {
	// Hub is the hub's name; a shared transport derives its keys from it.
	Hub string
	// Retention is the hub's initial retention.
	Retention Retention
	// Deliver is the hub's fan-out. The transport calls it with every
	// event it stores, in order, one call at a time.
	Deliver func(events []*Event)
	// Logger is the hub's logger; never nil.
	Logger *zap.Logger
}

// Opener opens a hub's transport. Transport modules implement it; nil
// opens the memory transport.
type Opener interface {
	OpenTransport(TransportConfig) (Transport, error)
}

// Health is implemented by transports that can be unreachable.
type Health interface {
	// Healthy returns why the transport cannot store events now, or nil.
	Healthy() error
}

// ErrUnavailable is wrapped by transport errors that mean "not now": the
// request may succeed if retried later.
var ErrUnavailable = errors.New("transport unavailable")
