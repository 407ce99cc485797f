package caddysse

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// ServeHTTP subscribes on GET, publishes on POST (when enabled) and answers
// CORS preflights; other methods get 405. The route is terminal: next is
// never called.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	h.setCORS(w, r, preflight)
	switch r.Method {
	case http.MethodGet:
		if hasBody(r) {
			return writeError(w, http.StatusBadRequest, errors.New("a GET must not carry a body"))
		}
		if wantsJSON(r) {
			return h.poll(w, r)
		}
		return h.subscribe(w, r)
	case http.MethodPost:
		if h.Publish {
			return h.measuredPublish(w, r)
		}
	case http.MethodOptions:
		w.Header().Set("Allow", h.allow())
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Allow", h.allow())
	return writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s is not allowed here; use %s", r.Method, h.allow()))
}

// allow lists the methods this route answers.
func (h *Handler) allow() string {
	if h.Publish {
		return "GET, POST, OPTIONS"
	}
	return "GET, OPTIONS"
}

// setCORS adds the CORS response headers for an allowed Origin, and on a
// preflight the methods and request headers that may follow. Origins in
// publish_origins are allowed on publish routes even without cors, since a
// page of theirs cannot publish JSON without a preflight.
func (h *Handler) setCORS(w http.ResponseWriter, r *http.Request, preflight bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || (h.CORS == nil && !h.Publish) {
		return
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	var credentials, anyOrigin bool
	switch {
	case h.CORS != nil && allowsOrigin(h.CORS.Origins, origin):
		credentials, anyOrigin = h.CORS.Credentials, slices.Contains(h.CORS.Origins, "*")
	case h.Publish && allowsOrigin(h.PublishOrigins, origin):
	default:
		return
	}
	if anyOrigin && !credentials {
		hdr.Set("Access-Control-Allow-Origin", "*")
	} else {
		hdr.Set("Access-Control-Allow-Origin", origin)
	}
	if credentials {
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
	if preflight {
		hdr.Set("Access-Control-Allow-Methods", h.allow())
		hdr.Set("Access-Control-Allow-Headers", "Authorization, Cache-Control, Content-Type, Last-Event-ID, Accept")
		hdr.Set("Access-Control-Max-Age", "600")
	}
}

// hasBody reports whether a request carries a body. A subscription must
// not: net/http notices a client leaving only once the body is consumed.
func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || slices.Contains(r.TransferEncoding, "chunked")
}

// wantsJSON reports whether a GET asks for the JSON polling fallback rather
// than a stream.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/event-stream")
}

// httpError is an error with the status it is reported with.
type httpError struct {
	status int
	err    error
	// retryAfter, in seconds, is sent with 429 and 503.
	retryAfter string
	// authenticate is the WWW-Authenticate challenge sent with 401 and 403.
	authenticate string
}

func (e httpError) Error() string { return e.err.Error() }
func (e httpError) Unwrap() error { return e.err }

func errStatus(status int, format string, args ...any) httpError {
	return httpError{status: status, err: fmt.Errorf(format, args...)}
}

// writeError answers with the error's status and a JSON body that says what
// is wrong. Errors that are not an httpError are 400s.
func writeError(w http.ResponseWriter, status int, err error) error {
	var he httpError
	if errors.As(err, &he) {
		status = he.status
		if he.retryAfter != "" {
			w.Header().Set("Retry-After", he.retryAfter)
		}
		if he.authenticate != "" {
			w.Header().Set("WWW-Authenticate", he.authenticate)
		}
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	return writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("encoding response: %w", err))
	}
	writeJSONBody(w, status, append(body, '\n'))
	return nil
}

// writeJSONBody answers with status and body, a JSON text, not to be
// cached. The two header values share one allocation and are set under
// their canonical names, which is what Header.Set would do at twice the
// cost on every publish. Each is its own slice of length and capacity 1,
// so an Add by a later handler copies it rather than writing into the
// other.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	values := []string{"application/json", "no-store"}
	h := w.Header()
	h["Content-Type"] = values[0:1:1]
	h["Cache-Control"] = values[1:2:2]
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// lastEventID is where a client resumes: the Last-Event-ID header, or the
// last_event_id (alias lastEventID) query parameter, which EventSource can
// send on its first connection when it cannot set headers.
func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	q := r.URL.Query()
	if id := q.Get("last_event_id"); id != "" {
		return id
	}
	return q.Get("lastEventID")
}

// clientIP is the client's address as Caddy determined it (honouring
// trusted_proxies), falling back to the connection's peer.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// mediaType is the request's Content-Type without parameters.
func mediaType(r *http.Request) string {
	v := r.Header.Get("Content-Type")
	// The usual values, without parameters, need no parsing, nor the
	// parameter map ParseMediaType makes.
	for _, t := range [...]string{"application/json", ndjsonType, "application/x-www-form-urlencoded"} {
		if strings.EqualFold(v, t) {
			return t
		}
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return mt
}
