package caddysse

import (
	"cmp"
	"fmt"
	"sync"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/caddy-sse/caddy-sse/internal/detach"
)

// hubs holds the running hubs by name. A reload provisions the new config
// before it cleans up the old one, so the hub, with its history and ids,
// passes from one to the next.
var hubs = caddy.NewUsagePool()

// hubEntry is a hub in the pool: the module's side of it. It holds the
// hub-level settings that each config's routes asked for, so disagreements
// are caught, the writers of its detached streams and its stats events.
type hubEntry struct {
	*hub.Hub
	name string
	// transport identifies the transport the hub was opened on.
	transport string
	// publish counts the publish requests of every route of the hub.
	publish publishStats

	writersOnce sync.Once
	writers     *detach.Pool
	writersErr  error
	// fallbackOnce logs the first stream kept off the writers (detach.go).
	fallbackOnce sync.Once

	statsMu   sync.Mutex
	statsStop chan struct{} // closes the running stats loop; nil when none

	mu     sync.Mutex
	claims map[*caddyevents.App]*claim
}

// newHubEntry starts a hub on the transport open opens.
func newHubEntry(name string, s hubSettings, open hub.Opener, logger *zap.Logger) (*hubEntry, error) {
	h, err := hub.New(s.config(name), open, logger)
	if err != nil {
		return nil, err
	}
	return &hubEntry{Hub: h, name: name, transport: valueOr(s.Transport, defaultTransport)}, nil
}

// detachedWriters returns the pool that writes the hub's detached streams,
// starting it on first use.
func (e *hubEntry) detachedWriters() (*detach.Pool, error) {
	e.writersOnce.Do(func() {
		select {
		case <-e.Hub.Done():
			e.writersErr = hub.ErrHubClosed
		default:
			e.writers, e.writersErr = detach.NewPool()
		}
	})
	return e.writers, e.writersErr
}

type claim struct {
	settings hubSettings
	refs     int
}

// claim records one route's hub settings for its config and reports a
// disagreement with another route of the same config.
func (e *hubEntry) claim(gen *caddyevents.App, s hubSettings) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.claims == nil {
		e.claims = make(map[*caddyevents.App]*claim)
	}
	c := e.claims[gen]
	if c == nil {
		c = new(claim)
		e.claims[gen] = c
	}
	c.refs++
	merged, err := c.settings.merge(s)
	if err != nil {
		return err
	}
	c.settings = merged
	return nil
}

// settings are the merged hub settings of one config.
func (e *hubEntry) settings(gen *caddyevents.App) hubSettings {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.claims[gen]; c != nil {
		return c.settings
	}
	return hubSettings{}
}

func (e *hubEntry) release(gen *caddyevents.App) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.claims[gen]; c != nil {
		if c.refs--; c.refs <= 0 {
			delete(e.claims, gen)
		}
	}
}

// Destruct stops the hub when no config uses it any more: its streams end,
// its transport closes, and the writers finish the streams' last writes.
func (e *hubEntry) Destruct() error {
	e.configureStats("", 0)
	e.Hub.Close()
	e.writersOnce.Do(func() { e.writersErr = hub.ErrHubClosed }) // none starts now
	if e.writers != nil {
		e.writers.Close()
	}
	return nil
}

// hubSettings are the hub-level settings one route asked for; nil fields
// were not set and take the value of another route, or the default.
type hubSettings struct {
	History        *int
	MaxAge         *time.Duration
	Heartbeat      *time.Duration
	HeartbeatEvent *bool
	Idempotency    *time.Duration
	// Transport is the transport's config as compact JSON.
	Transport     *string
	StatsTopic    *string
	StatsInterval *time.Duration
}

func (h *Handler) hubSettings() hubSettings {
	s := hubSettings{History: h.History, Transport: nonZero(h.transportKey)}
	if h.Idempotency != nil {
		s.Idempotency = new(time.Duration(*h.Idempotency))
	}
	if h.HistoryMaxAge != 0 {
		s.MaxAge = new(time.Duration(h.HistoryMaxAge))
	}
	if h.Heartbeat != nil || h.HeartbeatEvent {
		s.Heartbeat = new(time.Duration(valueOr(h.Heartbeat, caddy.Duration(defaultHeartbeat))))
		s.HeartbeatEvent = new(h.HeartbeatEvent)
	}
	if h.StatsTopic != "" {
		s.StatsTopic = new(h.StatsTopic)
		s.StatsInterval = new(cmp.Or(time.Duration(h.StatsInterval), defaultStatsInterval))
	}
	return s
}

// merge combines the settings of two routes of one hub; where both set a
// value they must agree.
func (s hubSettings) merge(o hubSettings) (hubSettings, error) {
	var err error
	s.History, err = mergeSetting("history", s.History, o.History, err)
	s.MaxAge, err = mergeSetting("history max age", s.MaxAge, o.MaxAge, err)
	s.Heartbeat, err = mergeSetting("heartbeat", s.Heartbeat, o.Heartbeat, err)
	s.HeartbeatEvent, err = mergeSetting("heartbeat event", s.HeartbeatEvent, o.HeartbeatEvent, err)
	s.Idempotency, err = mergeSetting("idempotency", s.Idempotency, o.Idempotency, err)
	s.Transport, err = mergeSetting("transport", s.Transport, o.Transport, err)
	s.StatsTopic, err = mergeSetting("stats topic", s.StatsTopic, o.StatsTopic, err)
	s.StatsInterval, err = mergeSetting("stats interval", s.StatsInterval, o.StatsInterval, err)
	return s, err
}

func mergeSetting[T comparable](name string, a, b *T, err error) (*T, error) {
	switch {
	case err != nil:
		return a, err
	case a == nil:
		return b, nil
	case b != nil && *a != *b:
		return a, fmt.Errorf("routes sharing a hub disagree on %s: %v and %v", name, *a, *b)
	}
	return a, nil
}

// config fills in defaults; name is the hub's.
func (s hubSettings) config(name string) hub.Config {
	return hub.Config{
		Name: name,
		Retention: hub.Retention{
			History:     valueOr(s.History, defaultHistory),
			MaxAge:      valueOr(s.MaxAge, 0),
			Idempotency: valueOr(s.Idempotency, defaultIdempotency),
		},
		Heartbeat:      valueOr(s.Heartbeat, defaultHeartbeat),
		HeartbeatEvent: valueOr(s.HeartbeatEvent, false),
	}
}

func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func nonZero[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}
