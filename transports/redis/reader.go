package redis

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-sse/caddy-sse/hub"
)

const (
	// readBlock is how long one XREAD waits for entries; after each, the
	// reader checks the epoch, so a flushed Redis is noticed this soon.
	readBlock = 2 * time.Second
	// readCount bounds the entries of one XREAD, one delivery.
	readCount = 1000
	// The reader's backoff after a failure grows from minBackoff to
	// maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// read is the hub's reader: it follows the stream from its last id and
// hands every entry to the hub's fan-out, in the stream's order, until ctx
// ends. After a failure it retries with backoff from the same id, so no
// entry is skipped.
func (t *transport) read(ctx context.Context) {
	defer close(t.done)
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(hub.Jitter(backoff, 0.5)):
			}
		}
		err := t.readOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			t.markUp()
			backoff = 0
			continue
		}
		if unavailable(err) {
			t.markDown(err)
		} else {
			t.logger.Error("reading the stream", zap.Error(err))
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
	}
}

// readOnce reads the entries after the last one, then the epoch: entries
// read before the epoch is found unchanged belong to it, since a stream
// deleted or recreated meanwhile would have lost the epoch's group.
func (t *transport) readOnce(ctx context.Context) error {
	t.mu.Lock()
	from := t.last
	t.mu.Unlock()
	streams, err := t.client.XRead(ctx, &redis.XReadArgs{
		Streams: []string{t.key, from.String()},
		Count:   readCount,
		Block:   readBlock,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	st, err := readState(ctx, t.client, t.key, t.trimmed)
	if err != nil {
		return err
	}
	t.length.Store(st.length)
	if t.switchEpoch(st) {
		return nil // what was read may be of the old stream: read again
	}
	if st.trimmed.after(from) {
		// Entries were trimmed before this node read them: its streams
		// miss them. A larger maxlen prevents it.
		t.logger.Error("the stream was trimmed past this node's reader: its subscribers missed events; raise maxlen",
			zap.String("read_through", from.String()), zap.String("trimmed_through", st.trimmed.String()))
	}
	for _, s := range streams {
		if s.Stream == t.key && len(s.Messages) > 0 {
			t.deliverEntries(s.Messages)
		}
	}
	return nil
}

// switchEpoch follows the stream into a new epoch, if it has one: the
// reader starts again where the epoch began.
func (t *transport) switchEpoch(st streamState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st.epoch == t.epoch {
		return false
	}
	t.logger.Warn("redis stream has a new epoch (it was deleted, flushed or recreated): clients resuming from older ids get a reset",
		zap.String("old_epoch", t.epoch), zap.String("epoch", st.epoch))
	t.epoch, t.last = st.epoch, st.start
	t.releaseWaits()
	return true
}

// deliverEntries hands the entries to the hub, this node's appends as
// they were appended, others decoded and validated; it skips, with a
// warning, entries it cannot deliver.
func (t *transport) deliverEntries(msgs []redis.XMessage) {
	t.mu.Lock()
	epoch, last := t.epoch, t.last
	lastSeq := t.lastSeq()
	batch := make([]*hub.Event, 0, len(msgs))
	for _, m := range msgs {
		sid, ok := parseStreamID(m.ID)
		seq, fits := sid.seq()
		if !ok || !fits || seq <= lastSeq {
			t.logger.Warn("skipping a stream entry whose id cannot be an event's position", zap.String("entry", m.ID))
			if ok && sid.after(last) {
				last = sid
			}
			continue
		}
		last, lastSeq = sid, seq
		if e := t.pending[seq]; e != nil {
			delete(t.pending, seq)
			batch = append(batch, e)
			continue
		}
		e, err := decodeEntry(m.Values)
		if err != nil {
			t.logger.Warn("skipping an invalid stream entry", zap.String("entry", m.ID), zap.Error(err))
			continue
		}
		e.ID, e.Seq, e.Time = formatID(epoch, sid), seq, sid.time()
		batch = append(batch, e)
	}
	t.inflight = true
	t.mu.Unlock()

	if len(batch) > 0 {
		t.deliver(batch)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight = false
	t.delivered.Broadcast()
	t.last = last
	kept := t.waits[:0]
	for _, w := range t.waits {
		if w.seq <= lastSeq {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	clear(t.waits[len(kept):])
	t.waits = kept
}
