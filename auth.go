package caddysse

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
)

// Who may subscribe to what, and who may publish from where. The block's
// own topic templates are the operator's word and always apply; topics a
// client adds with ?topic= pass the route's query_topics policy (and a
// token's claims, jwt.go); a publish from another site's page is refused.

// requestTopics are the selectors a subscriber gets: the route's templates,
// resolved for this request, and the `topic` query parameters the route's
// policy lets it add, without duplicates.
func (h *Handler) requestTopics(r *http.Request) ([]string, error) {
	query := r.URL.Query()["topic"]
	if len(query)+len(h.Topics) > hub.MaxTopics {
		return nil, errStatus(http.StatusBadRequest, "too many topics: %d, at most %d", len(query)+len(h.Topics), hub.MaxTopics)
	}
	for _, t := range query {
		if err := hub.CheckSelector(t); err != nil {
			return nil, errStatus(http.StatusBadRequest, "%v", err)
		}
	}
	topics, err := resolveSelectors(r, h.Topics, "topic")
	if err != nil {
		return nil, err
	}
	if len(query) > 0 {
		if err := h.allowQueryTopics(r, query, topics); err != nil {
			return nil, err
		}
	}
	topics = append(topics, query...)
	if len(topics) == 0 {
		return nil, errStatus(http.StatusBadRequest, "no topic: add ?topic=<name> to the URL")
	}
	slices.Sort(topics)
	return slices.Compact(topics), nil
}

// allowQueryTopics applies the query_topics policy: with it, each query
// topic must be covered by one of its selectors; without it, a route that
// has topic templates takes no query topics and one without is open. A
// query topic within the subscriber's own resolved templates adds nothing
// and always passes.
func (h *Handler) allowQueryTopics(r *http.Request, query, own []string) error {
	if len(h.QueryTopics) == 0 && len(h.Topics) == 0 {
		return nil
	}
	allowed, err := resolveSelectors(r, h.QueryTopics, "query_topics")
	if err != nil {
		return err
	}
	for _, t := range query {
		switch {
		case hub.AnyCovers(own, t) || hub.AnyCovers(allowed, t):
		case len(h.QueryTopics) == 0:
			return errStatus(http.StatusForbidden, "topic %q: this route serves its own topics and takes no others from the query (see query_topics)", t)
		default:
			return errStatus(http.StatusForbidden, "topic %q is not allowed on this route", t)
		}
	}
	return nil
}

// resolveSelectors resolves the placeholders of selector templates for a
// request. A placeholder's value is literal: one containing '*' would turn
// an exact topic into a prefix, or a prefix into a wider one, so it is
// refused rather than allowed to widen what the operator wrote.
func resolveSelectors(r *http.Request, templates []string, what string) ([]string, error) {
	if len(templates) == 0 {
		return nil, nil
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		repl = caddy.NewReplacer()
	}
	out := make([]string, 0, len(templates))
	for _, tpl := range templates {
		sel, err := resolveLiteral(repl, tpl)
		if err != nil {
			var wide errWildcardValue
			if errors.As(err, &wide) {
				return nil, errStatus(http.StatusForbidden, "%s template %q: %v", what, tpl, err)
			}
			return nil, errStatus(http.StatusBadRequest, "%s template %q cannot be resolved for this request: %v", what, tpl, err)
		}
		if err := hub.CheckSelector(sel); err != nil {
			return nil, errStatus(http.StatusBadRequest, "%s template %q: %v", what, tpl, err)
		}
		out = append(out, sel)
	}
	return out, nil
}

// errWildcardValue is a placeholder whose value contains '*'.
type errWildcardValue struct{ placeholder string }

func (e errWildcardValue) Error() string {
	return fmt.Sprintf("placeholder {%s} has a value containing '*', which would widen the selector", e.placeholder)
}

// resolveLiteral replaces the placeholders of tpl; each must be known and
// non-empty, and none may bring a '*' of its own.
func resolveLiteral(repl *caddy.Replacer, tpl string) (string, error) {
	return repl.ReplaceFunc(tpl, func(key string, val any) (any, error) {
		s := caddy.ToString(val)
		switch {
		case s == "":
			return nil, fmt.Errorf("placeholder {%s} is unknown or empty", key)
		case strings.Contains(s, "*"):
			return nil, errWildcardValue{placeholder: key}
		}
		return s, nil
	})
}

// checkPublishOrigin refuses a publish sent by another site's page: one
// whose Sec-Fetch-Site says cross-site or same-site, or, from browsers that
// do not send it, whose Origin is not the request's own host. A form POST
// needs no CORS preflight, so without this any page a visitor opens could
// publish to a hub it can reach. Requests without those headers (curl,
// servers, SDKs) are not from a page and pass.
func (h *Handler) checkPublishOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	var foreign bool
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "cross-site", "same-site":
		foreign = true
	case "same-origin", "none":
	default:
		foreign = origin != "" && !sameHost(origin, r.Host)
	}
	if !foreign || allowsOrigin(h.PublishOrigins, origin) {
		return nil
	}
	if origin == "" {
		origin = "another site"
	}
	return errStatus(http.StatusForbidden, "publishing from %s is not allowed; list the origin in publish_origins", origin)
}

// sameHost reports whether origin names the host (and port) the request
// was sent to. The scheme is not compared: behind a TLS-terminating proxy
// the request's own scheme is not what the browser saw.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// allowsOrigin reports whether origin is listed, or the list has "*".
func allowsOrigin(origins []string, origin string) bool {
	return origin != "" && (slices.Contains(origins, "*") || slices.Contains(origins, origin))
}

// checkOrigins validates configured origins: "*", or scheme://host[:port]
// exactly as browsers send it in Origin (no path, no trailing slash).
func checkOrigins(what string, origins []string) error {
	for _, o := range origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("%s %q: want an origin such as https://app.example or *", what, o)
		}
	}
	return nil
}
