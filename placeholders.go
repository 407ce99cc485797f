package caddysse

import (
	"net/http"
	"strings"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
)

// The placeholders a subscription sets on its request's replacer once it
// is accepted, for access logs (log_append) and deferred response headers:
//
//	{http.sse.connection}  the connection id, as sent in the "connected" event
//	{http.sse.hub}         the hub's name
//	{http.sse.topics}      the resolved selectors, comma-separated
const (
	placeholderConnection = "http.sse.connection"
	placeholderHub        = "http.sse.hub"
	placeholderTopics     = "http.sse.topics"
)

// setPlaceholders records an accepted subscription on the request.
func setPlaceholders(r *http.Request, hubName string, s *hub.Subscriber) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Set(placeholderConnection, s.ID)
	repl.Set(placeholderHub, hubName)
	repl.Set(placeholderTopics, strings.Join(s.Topics, ","))
}
