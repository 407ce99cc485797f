package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/caddy-sse/caddy-sse/hub"
)

// store is a hub's transport on an open bolt file. Appends are queued to
// one committer goroutine, which writes each batch of them in one
// transaction; a deliverer goroutine then delivers the batch's new events
// and answers its Appends, while the committer commits the next batch
// (see commit.go).
type store struct {
	db      *bbolt.DB
	path    string
	epoch   string
	deliver func([]*hub.Event)
	logger  *zap.Logger
	now     func() time.Time

	// The committer dedupes against keys, the deliverer settles them.
	keysMu sync.Mutex
	keys   *hub.Keys
	// unsettled are the events stored under a key whose batch the
	// deliverer has not settled yet, by key.
	unsettled map[string]*hub.Event

	failure error // the last commit's error, to log changes only; the committer's

	outbox chan committed // from the committer to the deliverer

	qmu    sync.Mutex
	queue  []*request
	closed bool
	wake   chan struct{} // the committer has work; capacity 1
	exited chan struct{} // closed when the deliverer returns, after the committer

	// mu guards what readers see of the file. The committer holds it
	// across each commit, so that a Replay starting a read transaction
	// sees the summary of dropped events that goes with it.
	mu        sync.RWMutex
	tally     tally
	dropped   hub.DroppedTopics
	retention hub.Retention
	trimDue   bool  // retention changed: trim even without new events
	health    error // why the last commit failed, nil after a success
}

// tally is what the committer knows of the file as of the last commit.
type tally struct {
	seq     uint64 // the newest event's sequence
	trimmed uint64 // the newest sequence that left the history
	events  int    // events stored
	keys    int    // idempotency keys stored
}

// Open opens, or creates, the bolt file at path for a hub, waiting up to
// lockTimeout for a process that holds it. A new file gets a new epoch;
// an existing one keeps its epoch, sequence, history and idempotency keys.
func Open(path string, lockTimeout time.Duration, cfg hub.TransportConfig) (hub.Transport, error) {
	return open(path, lockTimeout, cfg, hooks{now: time.Now})
}

// hooks are what tests replace: the clock, and how the file is opened
// (nil: os.OpenFile).
type hooks struct {
	now      func() time.Time
	openFile func(string, int, os.FileMode) (*os.File, error)
}

// open is Open with hooks.
func open(path string, lockTimeout time.Duration, cfg hub.TransportConfig, h hooks) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt transport: creating the directory of %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: lockTimeout,
		// The free list is rebuilt on open instead of written with every
		// commit; the file is small enough that rebuilding it is quick.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		OpenFile:       h.openFile,
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("bolt file %s is in use by another process (or another hub): not released within %v", path, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("opening bolt file %s: %w", path, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	s := &store{
		db:        db,
		path:      path,
		deliver:   cfg.Deliver,
		now:       h.now,
		logger:    logger.With(zap.String("bolt_file", path)),
		keys:      hub.NewKeys(cfg.Retention.Idempotency),
		wake:      make(chan struct{}, 1),
		outbox:    make(chan committed, 4),
		unsettled: make(map[string]*hub.Event),
		exited:    make(chan struct{}),
		retention: cfg.Retention,
		dropped:   hub.NewDroppedTopics(hub.DroppedTopicsKept),
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return s.load(tx, h.now()) }); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("reading bolt file %s: %w", path, err)
	}
	// What left the history before this process is not in the summary: a
	// resume from before it cannot be told it missed nothing.
	s.dropped.Forget(s.tally.trimmed)
	s.logger.Info("bolt transport opened",
		zap.String("epoch", s.epoch),
		zap.Uint64("seq", s.tally.seq),
		zap.Int("events", s.tally.events),
		zap.Int("idempotency_keys", s.keys.Len()))
	go s.run()
	go s.deliverBatches()
	return s, nil
}

// load reads the file's state, creating what a new file lacks, trims the
// history and keys to the retention, and remembers the live keys.
func (s *store) load(tx *bbolt.Tx, now time.Time) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	events, err := tx.CreateBucketIfNotExists(bucketEvents)
	if err != nil {
		return err
	}
	keys, err := tx.CreateBucketIfNotExists(bucketKeys)
	if err != nil {
		return err
	}
	switch v := meta.Get(metaFormat); {
	case v == nil:
		if err := meta.Put(metaFormat, []byte(strconv.Itoa(format))); err != nil {
			return err
		}
	case string(v) != strconv.Itoa(format):
		return fmt.Errorf("the file has format %q; this build reads format %d", v, format)
	}
	if v := meta.Get(metaEpoch); v != nil {
		s.epoch = string(v)
	} else {
		s.epoch = hub.NewEpoch(now)
		if err := meta.Put(metaEpoch, []byte(s.epoch)); err != nil {
			return err
		}
	}
	if v := meta.Get(metaSeq); len(v) == 8 {
		s.tally.seq = keySeq(v)
	}
	if v := meta.Get(metaTrimmed); len(v) == 8 {
		s.tally.trimmed = keySeq(v)
	}
	s.tally.events = events.Stats().KeyN
	s.tally.keys = keys.Stats().KeyN
	next, _, err := s.write(tx, s.tally, nil, now, s.retention)
	if err != nil {
		return err
	}
	s.tally = next
	c := keys.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		at, key, err := readKeyRecord(v)
		if err != nil {
			return fmt.Errorf("idempotency key at sequence %d: %w", keySeq(k), err)
		}
		seq := keySeq(k)
		s.keys.Add(key, hub.Ack{ID: hub.FormatID(s.epoch, seq), Seq: seq, Time: at})
	}
	return nil
}

func (s *store) Replay(ctx context.Context, after string, selectors []string) (hub.Replay, error) {
	epoch, seq, ok := hub.ParseID(after)
	switch {
	case !ok:
		return hub.Replay{Reset: hub.ResetUnknown}, nil
	case epoch != s.epoch:
		return hub.Replay{Reset: hub.ResetEpoch}, nil
	}
	s.mu.RLock()
	if seq > s.tally.seq {
		s.mu.RUnlock()
		return hub.Replay{Reset: hub.ResetUnknown}, nil
	}
	if s.tally.trimmed > seq {
		// Events after the id left the history; it matters only if one
		// of them was for this subscriber, or if the summary cannot tell.
		if missed, known := s.dropped.Missed(seq, selectors); missed || !known {
			s.mu.RUnlock()
			return hub.Replay{Reset: hub.ResetExpired}, nil
		}
	}
	maxAge := s.retention.MaxAge
	tx, err := s.db.Begin(false)
	s.mu.RUnlock()
	if err != nil {
		return hub.Replay{}, fmt.Errorf("%w: bolt file %s: %w", hub.ErrUnavailable, s.path, err)
	}
	defer func() { _ = tx.Rollback() }()
	var cutoff time.Time
	if maxAge > 0 {
		cutoff = s.now().Add(-maxAge)
	}
	var out []*hub.Event
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.Seek(seqKey(seq + 1)); k != nil; k, v = c.Next() {
		if len(out)%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return hub.Replay{}, err
			}
		}
		r, err := readRecord(v)
		if err != nil {
			return hub.Replay{}, fmt.Errorf("bolt file %s: event %d: %w", s.path, keySeq(k), err)
		}
		if !hub.MatchesAny(selectors, r.topics) {
			continue
		}
		if maxAge > 0 && r.time.Before(cutoff) {
			// Too old to send, and not trimmed yet: as good as gone.
			return hub.Replay{Reset: hub.ResetExpired}, nil
		}
		e, err := r.event(s.epoch, keySeq(k))
		if err != nil {
			return hub.Replay{}, fmt.Errorf("bolt file %s: event %d: %w", s.path, keySeq(k), err)
		}
		out = append(out, e)
	}
	return hub.Replay{Events: out, After: seq}, nil
}

func (s *store) Head(context.Context) (hub.Position, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return hub.Position{ID: hub.FormatID(s.epoch, s.tally.seq), Seq: s.tally.seq}, nil
}

// Configure applies the retention at once: it returns after a commit of
// its own trimmed the history and the keys to it.
func (s *store) Configure(r hub.Retention) {
	s.mu.Lock()
	s.retention = r
	s.trimDue = true
	s.mu.Unlock()
	_ = s.enqueue(&request{done: make(chan struct{})}) // fails only once closed
}

func (s *store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tally.events
}

// Healthy reports why the last commit failed, until one succeeds.
func (s *store) Healthy() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.health
}

// Close lets the committer and the deliverer finish the Appends already
// queued, then closes the file. Appends after it fail with hub.ErrHubClosed.
func (s *store) Close() error {
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return nil
	}
	s.closed = true
	s.qmu.Unlock()
	s.signal()
	<-s.exited
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing bolt file %s: %w", s.path, err)
	}
	return nil
}

// Interface guards
var (
	_ hub.Transport = (*store)(nil)
	_ hub.Health    = (*store)(nil)
)
