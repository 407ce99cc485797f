package bolt

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-sse/caddy-sse/hub"
)

// request is one Append waiting for its batch's commit.
type request struct {
	events []*hub.Event
	err    error
	done   chan struct{}
}

// Append queues the events for the committer and waits for the commit of
// the batch they join: every Append queued while a commit is under way
// shares the next one. It returns after the transaction is on disk and
// the new events were delivered. ctx is heeded until the events are
// queued; a commit under way is not abandoned.
func (s *store) Append(ctx context.Context, events []*hub.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.enqueue(&request{events: events, done: make(chan struct{})})
}

// enqueue hands r to the committer and waits for its commit.
func (s *store) enqueue(r *request) error {
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return hub.ErrHubClosed
	}
	s.queue = append(s.queue, r)
	s.qmu.Unlock()
	s.signal()
	<-r.done
	return r.err
}

func (s *store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the committer: it takes every queued Append at once and commits
// them together, until the store is closed and the queue is empty. It
// hands each batch to the deliverer and goes on to the next commit while
// the deliverer fans the last one out.
func (s *store) run() {
	defer close(s.outbox)
	for range s.wake {
		s.qmu.Lock()
		batch, closed := s.queue, s.closed
		s.queue = nil
		s.qmu.Unlock()
		s.outbox <- s.commit(batch)
		if closed {
			return
		}
	}
}

// committed is a batch on its way from the committer to the deliverer.
type committed struct {
	batch  []*request
	events []*hub.Event // every event of the batch, repeats too
	fresh  []*hub.Event // the events stored (and to deliver)
	err    error        // the commit's; nothing is delivered then
	// firsts are, for the repeats of keys an earlier batch stored but had
	// not settled when this one was deduplicated, the events first stored
	// under them: delivered by the time this batch is, so their acks
	// count their subscribers.
	firsts map[*hub.Event]*hub.Event
}

// deliverBatches is the deliverer: in commit order, it delivers each
// batch's new events, settles its idempotency keys (now that the acks
// know their subscribers) and answers its Appends.
func (s *store) deliverBatches() {
	defer close(s.exited)
	for c := range s.outbox {
		if c.err == nil {
			if len(c.fresh) > 0 {
				s.deliver(c.fresh)
			}
			s.keysMu.Lock()
			s.keys.Settle(c.events)
			for _, e := range c.fresh {
				if e.IdempotencyKey != "" && s.unsettled[e.IdempotencyKey] == e {
					delete(s.unsettled, e.IdempotencyKey)
				}
			}
			s.keysMu.Unlock()
			for repeat, first := range c.firsts {
				repeat.Repeat(first.Ack())
			}
		}
		answer(c.batch, c.err)
	}
}

// commit stores a batch in one transaction; when the commit fails,
// every Append of the batch gets the error and nothing is delivered.
func (s *store) commit(batch []*request) committed {
	c := committed{batch: batch}
	for _, r := range batch {
		c.events = append(c.events, r.events...)
	}
	s.mu.RLock()
	ret, trimDue := s.retention, s.trimDue
	s.mu.RUnlock()
	now := s.now()
	s.keysMu.Lock()
	s.keys.SetWindow(ret.Idempotency)
	// One call for the whole batch: a key repeated by two Appends of the
	// batch is stored once.
	c.fresh = s.keys.Dedupe(c.events, now)
	for _, e := range c.events {
		if first := s.unsettled[e.IdempotencyKey]; e.Repeated() && first != nil {
			if c.firsts == nil {
				c.firsts = make(map[*hub.Event]*hub.Event)
			}
			c.firsts[e] = first
		}
	}
	s.keysMu.Unlock()
	if len(c.fresh) == 0 && !trimDue {
		return c
	}
	seq := s.tally.seq
	for _, e := range c.fresh {
		seq++
		e.ID, e.Seq, e.Time = hub.FormatID(s.epoch, seq), seq, now
	}
	start := time.Now()
	s.mu.Lock()
	var next tally
	var dropped []droppedEvent
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		base := s.tally
		base.seq = seq
		next, dropped, err = s.write(tx, base, c.fresh, now, ret)
		return err
	})
	if err == nil {
		s.tally = next
		for _, d := range dropped {
			s.dropped.Add(d.event, d.seq)
		}
		s.trimDue = false
		s.health = nil
	} else {
		err = fmt.Errorf("%w: committing to bolt file %s: %w", hub.ErrUnavailable, s.path, err)
		s.health = err
	}
	s.mu.Unlock()
	s.logCommit(err, len(c.fresh), time.Since(start))
	if err != nil {
		for _, e := range c.fresh {
			e.ID, e.Seq, e.Time = "", 0, time.Time{}
		}
		c.fresh, c.err = nil, err
		return c
	}
	// The next batch is deduplicated before the deliverer settles this
	// one: its keys are known from now on (the deliverer then adds the
	// subscriber counts).
	s.keysMu.Lock()
	for _, e := range c.fresh {
		if e.IdempotencyKey != "" {
			s.keys.Add(e.IdempotencyKey, hub.Ack{ID: e.ID, Seq: e.Seq, Time: e.Time})
			s.unsettled[e.IdempotencyKey] = e
		}
	}
	s.keysMu.Unlock()
	return c
}

func answer(batch []*request, err error) {
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// droppedEvent is an event that left the history, for the summary.
type droppedEvent struct {
	event *hub.Event
	seq   uint64
}

// write stores the fresh events (base.seq already counts them) and their
// idempotency keys, and trims the history and the keys to the retention:
// by count, oldest first, then by age. Events for one connection are never
// replayed, so they are not stored.
func (s *store) write(tx *bbolt.Tx, base tally, fresh []*hub.Event, now time.Time, ret hub.Retention) (tally, []droppedEvent, error) {
	t := base
	meta, events, keys := tx.Bucket(bucketMeta), tx.Bucket(bucketEvents), tx.Bucket(bucketKeys)
	// Keys only ever grow at the end: full pages waste no space.
	events.FillPercent, keys.FillPercent = 1, 1
	var stored []*hub.Event
	for _, e := range fresh {
		if e.Connection == "" {
			stored = append(stored, e)
		}
	}
	var dropped []droppedEvent
	trimOldest := func() error {
		c := events.Cursor()
		k, v := c.First()
		r, err := readRecord(v)
		if err != nil {
			return fmt.Errorf("event %d: %w", keySeq(k), err)
		}
		seq := keySeq(k)
		if err := c.Delete(); err != nil {
			return err
		}
		dropped = append(dropped, droppedEvent{&hub.Event{Topics: r.topics}, seq})
		t.trimmed, t.events = seq, t.events-1
		return nil
	}
	excess := t.events + len(stored) - max(ret.History, 0)
	for ; excess > 0 && t.events > 0; excess-- {
		if err := trimOldest(); err != nil {
			return base, nil, err
		}
	}
	// Put keeps the slices it is given until the commit: one each.
	for i, e := range stored {
		if i < excess { // the history is smaller than the batch
			dropped = append(dropped, droppedEvent{e, e.Seq})
			t.trimmed = e.Seq
			continue
		}
		if err := events.Put(seqKey(e.Seq), appendRecord(nil, e)); err != nil {
			return base, nil, err
		}
		t.events++
	}
	if ret.MaxAge > 0 {
		cutoff := now.Add(-ret.MaxAge)
		for t.events > 0 {
			_, v := events.Cursor().First()
			at, err := recordTime(v)
			if err != nil {
				return base, nil, err
			}
			if !at.Before(cutoff) {
				break
			}
			if err := trimOldest(); err != nil {
				return base, nil, err
			}
		}
	}
	if ret.Idempotency > 0 {
		for _, e := range fresh {
			if e.IdempotencyKey != "" {
				if err := keys.Put(seqKey(e.Seq), appendKeyRecord(nil, now, e.IdempotencyKey)); err != nil {
					return base, nil, err
				}
				t.keys++
			}
		}
	}
	cutoff := now.Add(-ret.Idempotency)
	for t.keys > 0 {
		c := keys.Cursor()
		_, v := c.First()
		at, err := recordTime(v)
		if err != nil {
			return base, nil, err
		}
		if !at.Before(cutoff) && t.keys <= hub.MaxIdempotencyKeys {
			break
		}
		if err := c.Delete(); err != nil {
			return base, nil, err
		}
		t.keys--
	}
	if err := meta.Put(metaSeq, seqKey(t.seq)); err != nil {
		return base, nil, err
	}
	if err := meta.Put(metaTrimmed, seqKey(t.trimmed)); err != nil {
		return base, nil, err
	}
	return t, dropped, nil
}

// logCommit logs a failed commit at error, once while the failure lasts
// (and again if its cause changes), the recovery at info, and every
// commit at debug.
func (s *store) logCommit(err error, events int, took time.Duration) {
	switch {
	case err != nil:
		if s.failure == nil || s.failure.Error() != err.Error() {
			s.logger.Error("bolt commit failed; publishes get 503 until a commit succeeds", zap.Error(err))
		}
		s.failure = err
	case s.failure != nil:
		s.logger.Info("bolt commits succeed again", zap.NamedError("last_error", s.failure))
		s.failure = nil
	}
	if ce := s.logger.Check(zapcore.DebugLevel, "bolt commit"); ce != nil {
		ce.Write(zap.Int("events", events), zap.Duration("took", took), zap.Error(err))
	}
}
