package caddysse

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caddy-sse/caddy-sse/hub"
)

// idempotencyHeader names the key of a publish that may be retried: a
// repeat within the hub's idempotency window is answered with the first
// publish's ack, with Idempotent-Replayed: true, and stores nothing.
const idempotencyHeader = "Idempotency-Key"

// applyIdempotencyKey gives the events of a request the key of its
// Idempotency-Key header: the event of a single publish takes it as it is,
// the events of a batch take it with "#<index>" appended, so a retried
// batch repeats each of its events. An event that names a key of its own
// in its JSON must not be given a different one by the header.
func applyIdempotencyKey(r *http.Request, events []*hub.Event, batch bool) error {
	key := r.Header.Get(idempotencyHeader)
	if key == "" {
		return nil
	}
	for i, e := range events {
		k := key
		if batch {
			k += "#" + strconv.Itoa(i)
		}
		if e.IdempotencyKey != "" && e.IdempotencyKey != k {
			return errStatus(http.StatusBadRequest, "idempotency_key %q and the %s header %q disagree; send one", e.IdempotencyKey, idempotencyHeader, key)
		}
		e.IdempotencyKey = k
		if err := hub.CheckField("idempotency key", k, hub.MaxNameLen); err != nil {
			return errStatus(http.StatusBadRequest, "%v", err)
		}
	}
	return nil
}

// storeError is the answer to a publish the hub could not store: 503, and
// a Retry-After when the transport is down for now.
func storeError(err error) error {
	he := errStatus(http.StatusServiceUnavailable, "event not stored: %v", err)
	if errors.Is(err, hub.ErrUnavailable) {
		he.retryAfter = "1"
	}
	return he
}
