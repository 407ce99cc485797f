package caddysse

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// Bounds of the admin API's answers and publishes.
const (
	defaultTopTopics   = 10
	maxTopTopics       = 1000
	defaultPageSize    = 100
	maxPageSize        = 1000
	adminMaxEventSize  = 1 << 20 // the admin endpoint is trusted: a generous fixed limit
	adminMaxPublishLen = 8 * adminMaxEventSize
)

// adminAPI serves the hubs on Caddy's admin endpoint, under /sse/:
//
//	GET    /sse/hubs                            every hub's counters and busiest topics
//	GET    /sse/hubs/<hub>/subscribers          a page of a hub's subscribers
//	DELETE /sse/hubs/<hub>/subscribers/<id>     disconnect one subscriber
//	POST   /sse/hubs/<hub>/publish              publish, with a publish route's body
//	GET    /sse/health                          200 while every transport is up, else 503
//
// Caddy loads every module of the admin.api namespace by itself, so
// building this module in is all it takes. It sees the hubs of every
// running config through the hub pool.
type adminAPI struct {
	// logger records the publishes a transport refused, as the publish
	// routes do.
	logger *zap.Logger
}

// Interface guards.
var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)

// Provision takes the admin endpoint's logger; Caddy provisions admin
// routers before it registers their routes.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	return nil
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.sse",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns the one route under which the endpoints are dispatched.
func (a adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/sse/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// serve dispatches by path and method. Errors are answered here, as
// {"error":"..."} like the publish route's, so refusals of a caller's
// request are not logged as errors of Caddy's.
func (a adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	parts, err := pathParts(strings.TrimPrefix(r.URL.EscapedPath(), "/sse/"))
	if err != nil {
		return writeError(w, http.StatusBadRequest, err)
	}
	route := func(method string, handle func() error) error {
		if r.Method != method {
			w.Header().Set("Allow", method)
			return writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s is not allowed here; use %s", r.Method, method))
		}
		return handle()
	}
	switch {
	case len(parts) == 1 && parts[0] == "health":
		return route(http.MethodGet, func() error { return a.health(w) })
	case len(parts) == 1 && parts[0] == "hubs":
		return route(http.MethodGet, func() error { return a.listHubs(w, r) })
	case len(parts) < 3 || parts[0] != "hubs":
		return writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s", r.URL.Path))
	}
	e := findHub(parts[1])
	if e == nil {
		return writeError(w, http.StatusNotFound, fmt.Errorf("no hub named %q", parts[1]))
	}
	switch {
	case len(parts) == 3 && parts[2] == "subscribers":
		return route(http.MethodGet, func() error { return a.listSubscribers(w, r, e) })
	case len(parts) == 4 && parts[2] == "subscribers":
		return route(http.MethodDelete, func() error { return a.disconnect(w, e, parts[3]) })
	case len(parts) == 3 && parts[2] == "publish":
		return route(http.MethodPost, func() error {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			err := a.publish(sw, r, e)
			e.publish.observe(sw.status, time.Since(start))
			return err
		})
	}
	return writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s", r.URL.Path))
}

// pathParts splits an escaped path into its unescaped segments, so a hub or
// connection name may hold any character.
func pathParts(escaped string) ([]string, error) {
	parts := strings.Split(strings.TrimSuffix(escaped, "/"), "/")
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil {
			return nil, fmt.Errorf("malformed path: %w", err)
		}
		parts[i] = v
	}
	return parts, nil
}

// findHub returns the running hub of that name, or nil.
func findHub(name string) *hubEntry {
	var found *hubEntry
	hubs.Range(func(key, value any) bool {
		if key.(string) == name {
			found = value.(*hubEntry)
			return false
		}
		return true
	})
	return found
}

// namedHub is a hub of the pool with its name.
type namedHub struct {
	name  string
	entry *hubEntry
}

// runningHubs returns the hubs of the pool, by name.
func runningHubs() []namedHub {
	var all []namedHub
	hubs.Range(func(key, value any) bool {
		all = append(all, namedHub{key.(string), value.(*hubEntry)})
		return true
	})
	slices.SortFunc(all, func(a, b namedHub) int { return strings.Compare(a.name, b.name) })
	return all
}

// hubReport is what GET /sse/hubs tells of one hub.
type hubReport struct {
	Name           string            `json:"name"`
	Subscribers    int               `json:"subscribers"`
	DistinctTopics int               `json:"distinct_topics"`
	Topics         []hub.TopicCount  `json:"topics"`
	Connections    uint64            `json:"connections"`
	Published      uint64            `json:"published"`
	Delivered      uint64            `json:"delivered"`
	Replayed       uint64            `json:"replayed"`
	Dropped        map[string]uint64 `json:"dropped"`
	Ended          map[string]uint64 `json:"ended"`
	Resets         map[string]uint64 `json:"resets"`
	History        int               `json:"history"`
	LastID         string            `json:"last_id"`
	Transport      transportReport   `json:"transport"`
}

type transportReport struct {
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

func transportState(h *hub.Hub) transportReport {
	if err := h.TransportErr(); err != nil {
		return transportReport{Error: err.Error()}
	}
	return transportReport{Up: true}
}

// listHubs answers GET /sse/hubs[?topics=N]: every hub with its counters
// and its N busiest selectors (default 10).
func (adminAPI) listHubs(w http.ResponseWriter, r *http.Request) error {
	top, err := queryInt(r, "topics", defaultTopTopics, 0, maxTopTopics)
	if err != nil {
		return writeError(w, http.StatusBadRequest, err)
	}
	reports := []hubReport{}
	for _, nh := range runningHubs() {
		reports = append(reports, newHubReport(nh.name, nh.entry.Hub, top))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"hubs": reports})
}

// newHubReport reads one hub's counters and its top busiest selectors; the
// stats events of a hub with a stats topic carry the same report.
func newHubReport(name string, h *hub.Hub, top int) hubReport {
	st := h.Stats()
	info := h.Info()
	rep := hubReport{
		Name:           name,
		Subscribers:    info.Subscribers,
		DistinctTopics: len(info.Topics),
		Topics:         hub.Busiest(info.Topics, top),
		Connections:    st.Connections.Load(),
		Published:      st.Published.Load(),
		Delivered:      st.Delivered.Load(),
		Replayed:       st.Replayed.Load(),
		Dropped:        make(map[string]uint64),
		Ended:          make(map[string]uint64),
		Resets:         make(map[string]uint64),
		History:        info.History,
		LastID:         info.LastID,
		Transport:      transportState(h),
	}
	for _, reason := range hub.DroppedReasons {
		rep.Dropped[string(reason)] = st.Ended.Get(reason)
	}
	for _, reason := range hub.CloseReasons {
		if n := st.Ended.Get(reason); n > 0 {
			rep.Ended[string(reason)] = n
		}
	}
	for _, reason := range hub.ResetReasons {
		rep.Resets[string(reason)] = st.Resets.Get(reason)
	}
	return rep
}

// subscriberPage is the answer of GET /sse/hubs/<hub>/subscribers.
type subscriberPage struct {
	Subscribers []hub.SubscriberInfo `json:"subscribers"`
	// Next is the after= of the following page; empty on the last one.
	Next string `json:"next,omitempty"`
}

// listSubscribers answers GET /sse/hubs/<hub>/subscribers?topic=&limit=&after=:
// subscribers in the order they joined, those receiving topic only when it
// is given. A page may be short before the end when a filter skipped many;
// the listing is over when next is absent.
func (adminAPI) listSubscribers(w http.ResponseWriter, r *http.Request, e *hubEntry) error {
	limit, err := queryInt(r, "limit", defaultPageSize, 1, maxPageSize)
	if err != nil {
		return writeError(w, http.StatusBadRequest, err)
	}
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return writeError(w, http.StatusBadRequest, fmt.Errorf("after %q: want the next value of a previous page", v))
		}
	}
	subs, next := e.Subscribers(r.URL.Query().Get("topic"), after, limit)
	page := subscriberPage{Subscribers: subs}
	if page.Subscribers == nil {
		page.Subscribers = []hub.SubscriberInfo{}
	}
	if next != 0 {
		page.Next = strconv.FormatUint(next, 10)
	}
	return writeJSON(w, http.StatusOK, page)
}

// disconnect answers DELETE /sse/hubs/<hub>/subscribers/<id>: the stream is
// closed (reason "admin"); the client may reconnect and resume.
func (adminAPI) disconnect(w http.ResponseWriter, e *hubEntry, id string) error {
	if !e.Disconnect(id) {
		return writeError(w, http.StatusNotFound, fmt.Errorf("no subscriber %q on this hub", id))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// publish answers POST /sse/hubs/<hub>/publish with a publish route's body,
// statuses and answers, for applications on the same host.
func (a adminAPI) publish(w http.ResponseWriter, r *http.Request, e *hubEntry) error {
	return publishBody(w, r, e.Hub, adminMaxPublishLen, adminMaxEventSize, nil, a.logger)
}

// health answers GET /sse/health: 200 while every hub's transport can store
// events, else 503 naming the hubs that cannot and why.
func (adminAPI) health(w http.ResponseWriter) error {
	states := make(map[string]string)
	var down []string
	for _, nh := range runningHubs() {
		if err := nh.entry.TransportErr(); err != nil {
			states[nh.name] = err.Error()
			down = append(down, fmt.Sprintf("hub %q: %v", nh.name, err))
			continue
		}
		states[nh.name] = "up"
	}
	if len(down) > 0 {
		return writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "down",
			"error":  "transport down: " + strings.Join(down, "; "),
			"hubs":   states,
		})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "hubs": states})
}

// queryInt reads an integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// Interface guards
var (
	_ caddy.Module      = adminAPI{}
	_ caddy.AdminRouter = adminAPI{}
)
