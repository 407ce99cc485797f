// Package caddysse is a Caddy HTTP handler that turns Caddy into a
// Server-Sent Events hub: clients subscribe with GET, applications publish
// with POST, and the hub keeps history, heartbeats and fan-out.
package caddysse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of the optional settings.
const (
	defaultHub          = "default"
	defaultHistory      = 1000
	defaultHeartbeat    = 25 * time.Second
	defaultBuffer       = 256
	defaultWriteTimeout = 10 * time.Second
	defaultMaxEventSize = 64 << 10
	defaultIdempotency  = 5 * time.Minute
)

// Handler serves one route of a Server-Sent Events hub: GET subscribes to a
// stream, POST publishes when Publish is set. Blocks that name the same Hub
// share one hub, across sites and across config reloads.
type Handler struct {
	// Hub names the hub this route serves. Routes with the same name share
	// topics, subscribers and history. Default: "default".
	Hub string `json:"hub,omitempty"`

	// Topics are topic templates every subscriber on this route gets, in
	// addition to the `topic` query parameters. Placeholders are resolved per
	// request, e.g. "user/{http.auth.user.id}".
	Topics []string `json:"topics,omitempty"`

	// Publish accepts POST requests that publish events on this route.
	// Default: false (subscribe only).
	Publish bool `json:"publish,omitempty"`

	// History is how many events the hub keeps for clients that resume
	// with Last-Event-ID; 0 keeps none. A hub-level setting. Default: 1000.
	History *int `json:"history,omitempty"`

	// HistoryMaxAge drops history events older than this. A hub-level
	// setting. Default: 0 (events leave the history only by count).
	HistoryMaxAge caddy.Duration `json:"history_max_age,omitempty"`

	// Heartbeat is the silence after which a stream gets a heartbeat, so
	// proxies keep it open and dead clients are noticed; 0 disables it. A
	// hub-level setting. Default: 25s.
	Heartbeat *caddy.Duration `json:"heartbeat,omitempty"`

	// HeartbeatEvent sends heartbeats as an event named "heartbeat", which
	// clients can watch, instead of a comment line. A hub-level setting.
	// Default: false.
	HeartbeatEvent bool `json:"heartbeat_event,omitempty"`

	// StatsTopic is the exact topic (no '*') to which the hub publishes its
	// own counters as a "stats" event every StatsInterval, for dashboards.
	// Stats events are not stored and carry no id; polls do not see them.
	// A hub-level setting. Default: none (no stats events).
	StatsTopic string `json:"stats_topic,omitempty"`

	// StatsInterval is the time between stats events, at least 1s; it
	// requires StatsTopic. A hub-level setting. Default: 5s.
	StatsInterval caddy.Duration `json:"stats_interval,omitempty"`

	// TransportRaw is where the hub stores its events: a module of the
	// http.handlers.sse.transports namespace, chosen by its "name"
	// ("memory" or "bolt" here; others can be plugged in). A hub-level
	// setting, fixed for the hub's life. Default: {"name": "memory"}.
	TransportRaw json.RawMessage `json:"transport,omitempty" caddy:"namespace=http.handlers.sse.transports inline_key=name"`

	// Idempotency is how long the hub remembers a publish's idempotency
	// key (the Idempotency-Key header, or "idempotency_key" in a JSON
	// event): a publish that repeats a key within it is answered with the
	// first one's ack and stores nothing. 0 remembers none. A hub-level
	// setting. Default: 5m.
	Idempotency *caddy.Duration `json:"idempotency,omitempty"`

	// MaxDuration ends a stream after this long (jittered to 80-100% so
	// clients do not all come back at once); the client resumes with its
	// Last-Event-ID. Default: 0 (no limit).
	MaxDuration caddy.Duration `json:"max_duration,omitempty"`

	// Retry is the reconnection delay sent to clients when a stream opens.
	// Default: 0 (not sent; browsers use about 3s).
	Retry caddy.Duration `json:"retry,omitempty"`

	// ConnectedEvent sends a "connected" event with the connection id and
	// resolved topics when a stream opens. Default: true.
	ConnectedEvent *bool `json:"connected_event,omitempty"`

	// Buffer is how many events may wait for one subscriber; a subscriber
	// that falls further behind is disconnected and resumes from history.
	// Default (also when 0): 256.
	Buffer int `json:"buffer,omitempty"`

	// WriteTimeout is how long one write to a subscriber may block before
	// the subscriber is disconnected; it must be positive. Default: 10s.
	WriteTimeout *caddy.Duration `json:"write_timeout,omitempty"`

	// MaxSubscribers caps this route's open streams; beyond it subscribers
	// get 503. Default: 0 (no limit).
	MaxSubscribers int `json:"max_subscribers,omitempty"`

	// MaxSubscribersPerIP caps the open streams from one client IP (as
	// Caddy determines it, honouring trusted_proxies; IPv6 clients by their
	// /64); beyond it subscribers get 429. Default: 0 (no limit).
	MaxSubscribersPerIP int `json:"max_subscribers_per_ip,omitempty"`

	// MaxEventSize is the largest event accepted, in bytes of its SSE
	// encoding (without the id) plus its topics, at most 1 GiB; larger
	// publishes get 413. Default (also when 0): 65536.
	MaxEventSize int `json:"max_event_size,omitempty"`

	// QueryTopics are the selectors (placeholders allowed, resolved per
	// request with literal values) that the `topic` query parameters of a
	// subscriber must fall within; a query topic outside them is refused
	// with 403. Without it, a route that has Topics takes no query topics
	// beyond those its templates already cover, and a route without Topics
	// takes any. ["*"] allows any explicitly.
	QueryTopics []string `json:"query_topics,omitempty"`

	// PublishOrigins are the browser origins (e.g. "https://app.example",
	// or "*") whose pages may publish on this route. A publish whose
	// Sec-Fetch-Site or Origin shows another site is refused with 403
	// unless its origin is listed; requests without those headers (curl,
	// servers) are not affected. Default: none.
	PublishOrigins []string `json:"publish_origins,omitempty"`

	// CORS lets pages from other origins subscribe (and, with
	// PublishOrigins, publish).
	CORS *CORS `json:"cors,omitempty"`

	// JWT requires JSON Web Tokens to subscribe to topics that are not
	// public and to publish. Default: none (no token is checked).
	JWT *JWT `json:"jwt,omitempty"`

	// Compress chooses how streams are compressed. "gzip", "zstd" and
	// "auto" (zstd, else gzip) make the module compress them itself, for
	// clients whose Accept-Encoding accepts it (others get them as they
	// are): each event is compressed once and its bytes are shared by
	// every stream, so an idle compressed stream costs what an
	// uncompressed one does; streams keep Cache-Control: no-transform, so
	// Caddy's encode leaves them alone. "on" lets encode compress them
	// instead, with an encoder of each stream's own while it is open, idle
	// or not: about 75 KB for gzip and 475 KB for zstd, against about 4 KB
	// for a whole uncompressed plain HTTP/1.1 stream. "off" sends them
	// uncompressed, with no-transform. Default: "off".
	Compress string `json:"compress,omitempty"`

	hub   *hub.Hub
	entry *hubEntry
	// transport opens the hub's transport, should the hub be new, and
	// transportKey identifies it, so routes can be held to agree.
	transport    hub.Opener
	transportKey string
	gen          *caddyevents.App // identifies the config this handler belongs to
	streams      *streamSet
	limits       *limiter
	// ceiling is the process's stream ceiling, held from Provision to Cleanup.
	ceiling *streamCeiling
	invalid error // a conflict found while provisioning, reported by Validate

	logger       *zap.Logger
	publishStats *publishStats // the hub's, kept past Cleanup for requests still running
}

// CORS configures cross-origin access.
type CORS struct {
	// Origins allowed to subscribe, e.g. "https://app.example"; "*"
	// allows any origin.
	Origins []string `json:"origins,omitempty"`
	// Credentials allows cookies and HTTP authentication on cross-origin
	// requests; the allowed origin is then echoed rather than "*". It
	// cannot be combined with the origin "*": any site could then read
	// a visitor's private streams.
	Credentials bool `json:"credentials,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.sse",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults and joins the hub named by the config, creating
// it if this is its first use.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.Hub == "" {
		h.Hub = defaultHub
	}
	if h.Buffer == 0 {
		h.Buffer = defaultBuffer
	}
	if h.WriteTimeout == nil {
		h.WriteTimeout = new(caddy.Duration(defaultWriteTimeout))
	}
	if h.MaxEventSize == 0 {
		h.MaxEventSize = defaultMaxEventSize
	}
	if h.JWT != nil {
		if err := h.JWT.provision(); err != nil {
			return fmt.Errorf("jwt: %w", err)
		}
	}
	h.logger = ctx.Logger()
	h.streams = new(streamSet)
	ceiling, err := loadCeiling()
	if err != nil {
		return err
	}
	h.ceiling = ceiling
	h.limits = newLimiter(h.MaxSubscribers, h.MaxSubscribersPerIP, ceiling)

	// Plain HTTP/1.1 streams are detached from their request (detach.go),
	// which needs the connection each request came on.
	httpApp, err := ctx.App("http")
	if err != nil {
		return fmt.Errorf("loading http app: %w", err)
	}
	for _, srv := range httpApp.(*caddyhttp.App).Servers {
		srv.RegisterConnContext(storeRawConn)
	}

	app, err := ctx.App("events")
	if err != nil {
		return fmt.Errorf("loading events app: %w", err)
	}
	h.gen = app.(*caddyevents.App)

	// Checked here, not in Validate: a new hub is built from them below.
	switch {
	case h.History != nil && *h.History < 0:
		return fmt.Errorf("history %d: must not be negative", *h.History)
	case h.Heartbeat != nil && *h.Heartbeat < 0:
		return fmt.Errorf("heartbeat %s: must not be negative", time.Duration(*h.Heartbeat))
	case h.Idempotency != nil && *h.Idempotency < 0:
		return fmt.Errorf("idempotency %s: must not be negative", time.Duration(*h.Idempotency))
	case h.HistoryMaxAge < 0:
		return fmt.Errorf("history_max_age %s: must not be negative", time.Duration(h.HistoryMaxAge))
	}
	if err := h.checkStats(); err != nil {
		return err
	}
	if err := h.loadTransport(ctx); err != nil {
		return err
	}
	entry, _, err := hubs.LoadOrNew(h.Hub, func() (caddy.Destructor, error) {
		return newHubEntry(h.Hub, h.hubSettings(), h.transport, ctx.Logger().With(zap.String("hub", h.Hub)))
	})
	if err != nil {
		return fmt.Errorf("hub %q: %w", h.Hub, err)
	}
	h.entry = entry.(*hubEntry)
	if h.entry.transport != h.transportKey {
		h.invalid = fmt.Errorf("hub %q runs on transport %s; a reload cannot move it to %s (name another hub, or restart Caddy)", h.Hub, h.entry.transport, h.transportKey)
	}
	h.hub = h.entry.Hub
	h.publishStats = &h.entry.publish
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if err := h.entry.claim(h.gen, h.hubSettings()); err != nil && h.invalid == nil {
		h.invalid = err
	}

	// The new config is running before the old one is stopped: only then
	// does the shared hub take the new settings, so `caddy validate` or a
	// failed reload never touches a live hub. On stopping, this config's
	// streams end so that shutdown and reload are not held up by them.
	if err := h.gen.On("started", eventHandler(h.configureHub)); err != nil {
		return fmt.Errorf("subscribing to started event: %w", err)
	}
	if err := h.gen.On("stopping", eventHandler(h.stop)); err != nil {
		return fmt.Errorf("subscribing to stopping event: %w", err)
	}
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.invalid != nil {
		return h.invalid
	}
	if _, own := compressOffers[h.Compress]; !own && h.Compress != "" && h.Compress != "on" && h.Compress != "off" {
		return fmt.Errorf("compress %q: want off, gzip, zstd, auto or on", h.Compress)
	}
	for _, t := range h.Topics {
		if err := hub.CheckSelector(t); err != nil {
			return fmt.Errorf("topic template: %w", err)
		}
	}
	if err := h.checkLimits(); err != nil {
		return err
	}
	switch {
	case h.CORS != nil && len(h.CORS.Origins) == 0:
		return errors.New("cors: at least one origin is required")
	case h.CORS != nil && h.CORS.Credentials && slices.Contains(h.CORS.Origins, "*"):
		return errors.New("cors: * cannot be combined with credentials; list the origins that may send cookies")
	case len(h.PublishOrigins) > 0 && !h.Publish:
		return errors.New("publish_origins: this route does not publish; add publish")
	}
	for _, t := range h.QueryTopics {
		if err := hub.CheckSelector(t); err != nil {
			return fmt.Errorf("query_topics: %w", err)
		}
	}
	if h.CORS != nil {
		if err := checkOrigins("cors origin", h.CORS.Origins); err != nil {
			return err
		}
	}
	if err := checkOrigins("publish_origins", h.PublishOrigins); err != nil {
		return err
	}
	return nil
}

// maxMaxEventSize bounds max_event_size: a publish body may be eight times
// an event, and must stay within what an int counts on every platform.
const maxMaxEventSize = 1 << 30

// checkLimits judges the route-level numbers and durations, naming the
// JSON field and the value. Zero values were replaced by their defaults in
// Provision, where zero means the default.
func (h *Handler) checkLimits() error {
	switch {
	case h.Buffer < 1:
		return fmt.Errorf("buffer %d: must be at least 1", h.Buffer)
	case h.MaxEventSize < 1:
		return fmt.Errorf("max_event_size %d: must be positive", h.MaxEventSize)
	case h.MaxEventSize > maxMaxEventSize:
		return fmt.Errorf("max_event_size %d: must be at most 1GiB (%d)", h.MaxEventSize, maxMaxEventSize)
	case h.MaxSubscribers < 0:
		return fmt.Errorf("max_subscribers %d: must not be negative", h.MaxSubscribers)
	case h.MaxSubscribersPerIP < 0:
		return fmt.Errorf("max_subscribers_per_ip %d: must not be negative", h.MaxSubscribersPerIP)
	case h.WriteTimeout != nil && *h.WriteTimeout <= 0:
		return fmt.Errorf("write_timeout %s: must be positive", time.Duration(*h.WriteTimeout))
	case h.MaxDuration < 0:
		return fmt.Errorf("max_duration %s: must not be negative", time.Duration(h.MaxDuration))
	case h.Retry < 0:
		return fmt.Errorf("retry %s: must not be negative", time.Duration(h.Retry))
	}
	return nil
}

// Cleanup ends this handler's streams and lets go of the hub; the hub
// itself lives on while another config uses it.
func (h *Handler) Cleanup() error {
	h.stop()
	if h.ceiling != nil {
		h.ceiling = nil // h.limits keeps it: streams still ending give slots back
		if err := releaseCeiling(); err != nil {
			return err
		}
	}
	if h.entry == nil {
		return nil
	}
	h.entry.release(h.gen)
	h.entry = nil // h.hub stays: streams still ending may use it
	if _, err := hubs.Delete(h.Hub); err != nil {
		return fmt.Errorf("releasing hub %q: %w", h.Hub, err)
	}
	return nil
}

// configureHub applies this config's hub settings to the shared hub.
func (h *Handler) configureHub() {
	if h.entry != nil {
		s := h.entry.settings(h.gen)
		h.hub.Configure(s.config(h.Hub))
		h.entry.configureStats(valueOr(s.StatsTopic, ""), valueOr(s.StatsInterval, 0))
	}
}

// stop ends every stream this handler serves, telling clients to come back
// soon; they resume from Last-Event-ID on whichever config is current.
func (h *Handler) stop() {
	if h.streams != nil {
		h.streams.closeAll(hub.ReasonStopping)
	}
}

// eventHandler adapts a function to a caddyevents handler.
type eventHandler func()

func (f eventHandler) Handle(context.Context, caddy.Event) error {
	f()
	return nil
}

// streamSet is the set of streams one handler serves, so it can end them.
type streamSet struct {
	mu      sync.Mutex
	subs    map[*hub.Subscriber]struct{}
	stopped bool
}

// add registers a stream; it fails once the set was stopped.
func (ss *streamSet) add(s *hub.Subscriber) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.stopped {
		return false
	}
	if ss.subs == nil {
		ss.subs = make(map[*hub.Subscriber]struct{})
	}
	ss.subs[s] = struct{}{}
	return true
}

func (ss *streamSet) remove(s *hub.Subscriber) {
	ss.mu.Lock()
	delete(ss.subs, s)
	ss.mu.Unlock()
}

func (ss *streamSet) closeAll(reason hub.CloseReason) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.stopped = true
	for s := range ss.subs {
		s.Close(reason)
	}
}

// Interface guards
var (
	_ caddy.Module                = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddy.Destructor            = (*hubEntry)(nil)
)
