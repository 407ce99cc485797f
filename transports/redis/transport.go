package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-sse/caddy-sse/hub"
)

// transport is one hub's view of its stream.
type transport struct {
	client  redis.UniversalClient
	key     string // the stream
	trimmed string // the key of the newest id trimmed
	prefix  string // of the idempotency keys
	maxLen  int    // the configured maxlen; 0 follows history
	deliver func([]*hub.Event)
	logger  *zap.Logger

	mu        sync.Mutex
	delivered *sync.Cond // signalled when a delivery ends
	retention hub.Retention
	epoch     string
	last      streamID // the newest entry delivered, or where the reader starts
	// pending are this node's appended events that the reader has yet to
	// reach, by Seq: it delivers them as they are, so their acks count the
	// subscribers they reached. inflight is set while it delivers.
	pending  map[uint64]*hub.Event
	waits    []*deliveryWait
	inflight bool
	closed   bool
	downErr  error // why Redis is unreachable; nil while it answers

	length atomic.Int64 // entries in the stream, as last seen
	stop   context.CancelFunc
	done   chan struct{} // closed when the reader has ended
}

// deliveryWait is an Append waiting for the reader to deliver its events.
type deliveryWait struct {
	seq  uint64 // of its last event
	done chan struct{}
}

// deliveryTimeout bounds how long an Append waits for the reader to
// deliver its events locally; they are stored by then, so it returns
// either way, the ack counting no subscribers if it is late.
const deliveryTimeout = time.Second

// streamState is what stateScript reports.
type streamState struct {
	epoch   string
	start   streamID // where the epoch began
	last    streamID // the stream's last id
	length  int64
	trimmed streamID // the newest id trimmed
}

func readState(ctx context.Context, c redis.UniversalClient, key, trimmed string) (streamState, error) {
	res, err := stateScript.Run(ctx, c, []string{key, trimmed}, hub.NewEpoch(time.Now())).Slice()
	if err != nil {
		return streamState{}, err
	}
	var st streamState
	var ok1, ok2, ok3 bool
	if len(res) == 5 {
		st.epoch, _ = res[0].(string)
		st.start, ok1 = parseStreamID(str(res[1]))
		st.last, ok2 = parseStreamID(str(res[2]))
		st.length, _ = res[3].(int64)
		st.trimmed, ok3 = parseStreamID(str(res[4]))
	}
	if st.epoch == "" || !ok1 || !ok2 || !ok3 {
		return streamState{}, fmt.Errorf("unexpected reply %v reading the stream's state", res)
	}
	return st, nil
}

func str(v any) string { s, _ := v.(string); return s }

// open starts the transport's reader at the stream's end.
func open(c redis.UniversalClient, key, prefix string, maxLen int, st streamState, cfg hub.TransportConfig) *transport {
	ctx, stop := context.WithCancel(context.Background())
	t := &transport{
		client:    c,
		key:       key,
		trimmed:   prefix + ":trimmed",
		prefix:    prefix + ":idem:",
		maxLen:    maxLen,
		deliver:   cfg.Deliver,
		logger:    cfg.Logger.With(zap.String("stream", key)),
		retention: cfg.Retention,
		epoch:     st.epoch,
		last:      st.last,
		pending:   make(map[uint64]*hub.Event),
		stop:      stop,
		done:      make(chan struct{}),
	}
	t.delivered = sync.NewCond(&t.mu)
	t.length.Store(st.length)
	go t.read(ctx)
	return t
}

// trimBounds are how many entries the stream keeps, and how many more it
// may hold before it is trimmed back, so that trimming is done in chunks.
// Called with t.mu held.
func (t *transport) trimBounds() (maxLen, slack int) {
	maxLen = t.maxLen
	if maxLen == 0 {
		maxLen = max(t.retention.History, minMaxLen)
	}
	return maxLen, max(maxLen/10, 100)
}

// Append stores the events with one script call and waits, briefly, for
// the reader to deliver them.
func (t *transport) Append(ctx context.Context, events []*hub.Event) error {
	if len(events) == 0 {
		return nil
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return hub.ErrHubClosed
	}
	r := t.retention
	maxLen, slack := t.trimBounds()
	t.mu.Unlock()

	keys := []string{t.key, t.trimmed}
	args := []any{hub.NewEpoch(time.Now()), maxLen, slack, r.MaxAge.Milliseconds(), r.Idempotency.Milliseconds(), len(events)}
	for _, e := range events {
		keyed := r.Idempotency > 0 && e.IdempotencyKey != ""
		if keyed {
			keys = append(keys, t.prefix+e.IdempotencyKey)
		}
		flag := "0"
		if keyed {
			flag = "1"
		}
		fields := entryFields(nil, e)
		args = append(args, flag, len(fields))
		args = append(args, fields...)
	}
	res, err := appendScript.Run(ctx, t.client, keys, args...).StringSlice()
	if err != nil {
		return t.failed("storing events", err)
	}
	if len(res) != len(events)+1 {
		return fmt.Errorf("storing events in redis: unexpected reply %q", res)
	}
	t.markUp()
	epoch := res[0]
	fresh := events[:0:0]
	for i, e := range events {
		if first, ok := strings.CutPrefix(res[i+1], "="); ok {
			_, sid, _ := parseID(first)
			seq, _ := sid.seq()
			e.Repeat(hub.Ack{ID: first, Seq: seq, Time: sid.time()})
			continue
		}
		sid, ok := parseStreamID(res[i+1])
		seq, fits := sid.seq()
		if !ok || !fits {
			return fmt.Errorf("storing events in redis: stream id %q does not fit an event's position", res[i+1])
		}
		e.ID, e.Seq, e.Time = formatID(epoch, sid), seq, sid.time()
		fresh = append(fresh, e)
	}
	t.awaitDelivery(ctx, epoch, fresh)
	return nil
}

// awaitDelivery hands the reader the appended events to deliver as they
// are and waits until it did, the delivery timeout passed, or ctx ended.
func (t *transport) awaitDelivery(ctx context.Context, epoch string, events []*hub.Event) {
	if len(events) == 0 {
		return
	}
	t.mu.Lock()
	last := events[len(events)-1].Seq
	if epoch != t.epoch || t.closed || last <= t.lastSeq() {
		t.mu.Unlock() // the reader decoded them already, or is elsewhere
		return
	}
	w := &deliveryWait{seq: last, done: make(chan struct{})}
	for _, e := range events {
		t.pending[e.Seq] = e
	}
	t.waits = append(t.waits, w)
	t.mu.Unlock()

	timer := time.NewTimer(deliveryTimeout)
	defer timer.Stop()
	select {
	case <-w.done:
		return
	case <-timer.C:
	case <-ctx.Done():
	}
	// Late: take back what the reader has not taken, and let a delivery
	// of the rest finish, so the caller reads acks nobody writes.
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range events {
		if t.pending[e.Seq] == e {
			delete(t.pending, e.Seq)
		}
	}
	for t.inflight {
		t.delivered.Wait()
	}
}

// lastSeq is the Seq of t.last. Called with t.mu held.
func (t *transport) lastSeq() uint64 {
	seq, _ := t.last.seq()
	return seq
}

// Replay reads the entries after the id with one script call.
func (t *transport) Replay(ctx context.Context, after string, selectors []string) (hub.Replay, error) {
	epoch, from, ok := parseID(after)
	seq, fits := from.seq()
	if !ok || !fits {
		return hub.Replay{Reset: hub.ResetUnknown}, nil
	}
	t.mu.Lock()
	current, maxAge := t.epoch, t.retention.MaxAge
	t.mu.Unlock()
	if epoch != current {
		// An older epoch, or a newer one this node's reader has not
		// reached yet: either way its events cannot be merged by Seq.
		return hub.Replay{Reset: hub.ResetEpoch}, nil
	}
	res, err := replayScript.Run(ctx, t.client, []string{t.key, t.trimmed}, from.String()).Slice()
	if err != nil {
		err = t.failed("replaying events", err)
		if errors.Is(err, hub.ErrUnavailable) && ctx.Err() == nil {
			// Nothing to replay from: the client refetches its state
			// rather than wait, and its stream stays open.
			return hub.Replay{Reset: hub.ResetUnknown}, nil
		}
		return hub.Replay{}, err
	}
	if len(res) == 0 || str(res[0]) != epoch {
		return hub.Replay{Reset: hub.ResetEpoch}, nil
	}
	if len(res) != 5 {
		return hub.Replay{}, fmt.Errorf("replaying events from redis: unexpected reply %v", res)
	}
	last, _ := parseStreamID(str(res[1]))
	deleted, _ := parseStreamID(str(res[2]))
	trimmed, _ := parseStreamID(str(res[3]))
	entries, _ := res[4].([]any)
	switch {
	case from.after(last):
		return hub.Replay{Reset: hub.ResetUnknown}, nil
	case trimmed.after(from) || deleted.after(from):
		// An entry after the id was trimmed, or deleted with XDEL.
		return hub.Replay{Reset: hub.ResetExpired}, nil
	}
	var cutoff time.Time
	if maxAge > 0 {
		cutoff = time.Now().Add(-maxAge)
	}
	rep := hub.Replay{After: seq}
	for _, raw := range entries {
		e, sid, ok := t.replayed(epoch, raw)
		if !ok {
			continue
		}
		if sid.time().Before(cutoff) {
			return hub.Replay{Reset: hub.ResetExpired}, nil
		}
		if e.Connection == "" && hub.MatchesAny(selectors, e.Topics) {
			rep.Events = append(rep.Events, e)
		}
	}
	return rep, nil
}

// replayed decodes one entry of a raw XRANGE reply; the reader warned
// of those it skips.
func (t *transport) replayed(epoch string, raw any) (*hub.Event, streamID, bool) {
	pair, _ := raw.([]any)
	if len(pair) != 2 {
		return nil, streamID{}, false
	}
	sid, ok := parseStreamID(str(pair[0]))
	seq, fits := sid.seq()
	flat, _ := pair[1].([]any)
	if !ok || !fits {
		return nil, sid, false
	}
	e, err := decodeEntry(entryMap(flat))
	if err != nil {
		return nil, sid, false
	}
	e.ID, e.Seq, e.Time = formatID(epoch, sid), seq, sid.time()
	return e, sid, true
}

// Head is where the reader stands: the newest entry it delivered.
func (t *transport) Head(context.Context) (hub.Position, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return hub.Position{ID: formatID(t.epoch, t.last), Seq: t.lastSeq()}, nil
}

// Configure changes the retention; maxlen follows history unless set.
func (t *transport) Configure(r hub.Retention) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.retention = r
}

// Len is the stream's length when the reader last looked, within seconds.
func (t *transport) Len() int { return int(t.length.Load()) }

// Healthy reports Redis unreachable from the last command that failed
// until the next that succeeds.
func (t *transport) Healthy() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.downErr != nil {
		return fmt.Errorf("redis: %w: %v", hub.ErrUnavailable, t.downErr)
	}
	return nil
}

// Close stops the reader and closes the client.
func (t *transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.stop()
	err := t.client.Close() // also ends a blocked XREAD
	<-t.done
	t.mu.Lock()
	t.releaseWaits()
	t.mu.Unlock()
	return err
}

// releaseWaits ends every Append's wait. Called with t.mu held.
func (t *transport) releaseWaits() {
	for _, w := range t.waits {
		close(w.done)
	}
	t.waits = nil
	clear(t.pending)
}

// failed wraps an error of a command: an outage wraps hub.ErrUnavailable
// (publishes answer 503 with Retry-After) and is noted for Healthy.
func (t *transport) failed(what string, err error) error {
	if !unavailable(err) {
		return fmt.Errorf("%s in redis: %w", what, err)
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t.markDown(err)
	}
	return fmt.Errorf("%s in redis: %w: %w", what, hub.ErrUnavailable, err)
}

// unavailable tells an outage (no connection, a timeout, a server that is
// loading its data or has no master) from an error in the command itself.
func unavailable(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	for _, p := range [...]string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "NOREPLICAS"} {
		if strings.HasPrefix(reply.Error(), p) {
			return true
		}
	}
	return false
}

// markDown notes an outage, logging only the change.
func (t *transport) markDown(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.downErr == nil && !t.closed {
		t.logger.Error("redis unreachable: publishes fail with 503 and the reader retries until it answers", zap.Error(err))
	}
	t.downErr = err
}

// markUp notes that Redis answers again, logging only the change.
func (t *transport) markUp() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.downErr != nil {
		t.logger.Warn("redis reachable again", zap.NamedError("outage", t.downErr))
	}
	t.downErr = nil
}

// Interface guards
var (
	_ hub.Transport = (*transport)(nil)
	_ hub.Health    = (*transport)(nil)
)
