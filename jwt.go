package caddysse

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults of the jwt settings.
const (
	defaultJWTAlg    = "HS256"
	defaultJWTCookie = "sse_token"
	defaultJWTQuery  = "token"
)

// JWT authorizes subscribers and publishers with JSON Web Tokens. A token
// grants topic selectors in its "sse" claim (or, for tokens minted for
// Mercure, its "mercure" claim):
//
//	{"sse": {"subscribe": ["news/*"], "publish": ["chat/42"]}}
//
// A token is looked for in the Authorization header (Bearer), then in the
// cookie, then in the query parameter. A token that is sent is always
// verified, and its expiry ends the stream it opened.
type JWT struct {
	// Alg is the one signing algorithm tokens must use: HS256, HS384,
	// HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512
	// or EdDSA. A token's own "alg" header never chooses, and "none" is
	// always refused. Default: HS256.
	Alg string `json:"alg,omitempty"`

	// Key is the shared secret for the HS algorithms, or the PEM-encoded
	// public key for the others. Caddy placeholders such as
	// {env.SSE_JWT_KEY} are resolved when the config is loaded. Exactly
	// one of Key and KeyFile is required.
	Key string `json:"key,omitempty"`

	// KeyFile is a file holding the key: the raw secret for the HS
	// algorithms (trailing line breaks are trimmed), or a PEM public key
	// (or certificate) for the others. Placeholders in the path are
	// resolved when the config is loaded.
	KeyFile string `json:"key_file,omitempty"`

	// Issuer, when set, is the "iss" claim every token must carry.
	// Default: any issuer.
	Issuer string `json:"issuer,omitempty"`

	// Audience, when set, must be among the token's "aud" claim.
	// Default: any audience.
	Audience string `json:"audience,omitempty"`

	// Leeway is the clock skew allowed when checking "exp" and "nbf"; a
	// stream opened with a token ends at its "exp" plus this. Default: 0.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	// Cookie is the name of the cookie that may carry the token, which is
	// how browsers' EventSource sends one. Default: "sse_token".
	Cookie string `json:"cookie,omitempty"`

	// Query is the name of the query parameter that may carry the token.
	// It is the least safe place: URLs end up in logs and browser history.
	// Default: "token".
	Query string `json:"query,omitempty"`

	// Public are topic selectors anyone may subscribe to without a token,
	// e.g. "news/*". Publishing always needs a token. Default: none.
	Public []string `json:"public,omitempty"`

	parser *jwt.Parser
	key    any // the verification key, of the type Alg needs
}

// provision sets the defaults, loads the key and builds the parser that
// pins the algorithm.
func (j *JWT) provision() error {
	if j.Alg == "" {
		j.Alg = defaultJWTAlg
	}
	if j.Cookie == "" {
		j.Cookie = defaultJWTCookie
	}
	if j.Query == "" {
		j.Query = defaultJWTQuery
	}
	if !slices.Contains(jwtAlgs, j.Alg) {
		return fmt.Errorf("alg %q: want one of %s", j.Alg, strings.Join(jwtAlgs, ", "))
	}
	if j.Leeway < 0 {
		return fmt.Errorf("leeway %s: must not be negative", time.Duration(j.Leeway))
	}
	for _, sel := range j.Public {
		if err := hub.CheckSelector(sel); err != nil {
			return fmt.Errorf("public: %w", err)
		}
	}
	material, err := j.keyMaterial()
	if err != nil {
		return err
	}
	if j.key, err = verificationKey(j.Alg, material); err != nil {
		return err
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{j.Alg}),
		jwt.WithLeeway(time.Duration(j.Leeway)),
	}
	if j.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(j.Issuer))
	}
	if j.Audience != "" {
		opts = append(opts, jwt.WithAudience(j.Audience))
	}
	j.parser = jwt.NewParser(opts...)
	return nil
}

// keyMaterial reads the key from Key or KeyFile, placeholders resolved.
func (j *JWT) keyMaterial() ([]byte, error) {
	repl := caddy.NewReplacer()
	switch {
	case j.Key != "" && j.KeyFile != "":
		return nil, errors.New("key and key_file are both set; use one")
	case j.Key != "":
		key, err := repl.ReplaceOrErr(j.Key, true, true)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		return []byte(key), nil
	case j.KeyFile != "":
		path, err := repl.ReplaceOrErr(j.KeyFile, true, true)
		if err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		material, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		if isHMAC(j.Alg) {
			material = []byte(strings.TrimRight(string(material), "\r\n"))
		}
		return material, nil
	}
	return nil, errors.New("key or key_file is required")
}

// grant is what a verified token allows.
type grant struct {
	subscribe []string
	publish   []string
	expires   time.Time // zero when the token has no "exp"
}

// tokenClaims are the claims the hub reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	SSE     *scopeClaims `json:"sse,omitempty"`
	Mercure *scopeClaims `json:"mercure,omitempty"`
}

// scopeClaims are the topic selectors a token grants.
type scopeClaims struct {
	Subscribe []string `json:"subscribe,omitempty"`
	Publish   []string `json:"publish,omitempty"`
}

// granted returns what the claims allow: the "sse" claim when present, else
// the "mercure" one. Selectors that are not valid cannot match a valid
// request and are dropped.
func (c *tokenClaims) granted() *grant {
	g := new(grant)
	if c.ExpiresAt != nil {
		g.expires = c.ExpiresAt.Time
	}
	scope := c.SSE
	if scope == nil {
		scope = c.Mercure
	}
	if scope != nil {
		g.subscribe = validSelectors(scope.Subscribe)
		g.publish = validSelectors(scope.Publish)
	}
	return g
}

func validSelectors(sels []string) []string {
	return slices.DeleteFunc(slices.Clone(sels), func(s string) bool { return hub.CheckSelector(s) != nil })
}

// verify checks a token's signature and registered claims and returns
// what it grants. Its errors are 401s that name what is wrong without
// repeating the token.
func (j *JWT) verify(raw string) (*grant, error) {
	claims := new(tokenClaims)
	token, err := j.parser.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return j.key, nil })
	if err != nil {
		return nil, invalidToken("invalid token: %s", j.tokenProblem(token, claims, err))
	}
	return claims.granted(), nil
}

// tokenProblem says why a token was refused, in words of our own: the
// library's messages may quote parts of the token.
func (j *JWT) tokenProblem(token *jwt.Token, claims *tokenClaims, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case token != nil && token.Method != nil && token.Method.Alg() != j.Alg:
		return "not signed with " + j.Alg
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && j.Issuer != "" && claims.Issuer == "":
		return "no issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && j.Audience != "" && len(claims.Audience) == 0:
		return "no audience"
	}
	return "not valid"
}

// tokenFrom finds the request's token: the Authorization header's Bearer
// token, else the cookie, else the query parameter. It returns "" when
// there is none.
func (j *JWT) tokenFrom(r *http.Request) string {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		if token = strings.TrimSpace(token); token != "" {
			return token
		}
	}
	if c, err := r.Cookie(j.Cookie); err == nil && c.Value != "" {
		return c.Value
	}
	return r.URL.Query().Get(j.Query)
}

// authorizeSubscribe checks that every query topic is public or granted by
// the request's token; the route's own topic templates need no grant. It
// returns when the stream must end because the token expires, zero for
// never. A nil JWT allows everything.
func (j *JWT) authorizeSubscribe(r *http.Request) (time.Time, error) {
	if j == nil {
		return time.Time{}, nil
	}
	var needed []string
	for _, t := range r.URL.Query()["topic"] {
		if !hub.AnyCovers(j.Public, t) {
			needed = append(needed, t)
		}
	}
	raw := j.tokenFrom(r)
	if raw == "" {
		if len(needed) > 0 {
			return time.Time{}, invalidToken("no token: subscribing to %q needs one", needed[0])
		}
		return time.Time{}, nil
	}
	g, err := j.verify(raw)
	if err != nil {
		return time.Time{}, err
	}
	for _, t := range needed {
		if !hub.AnyCovers(g.subscribe, t) {
			return time.Time{}, insufficientScope("the token does not allow subscribing to %q", t)
		}
	}
	if g.expires.IsZero() {
		return time.Time{}, nil
	}
	return g.expires.Add(time.Duration(j.Leeway)), nil
}

// publishGrant verifies the token a publish request must carry.
func (j *JWT) publishGrant(r *http.Request) (*grant, error) {
	raw := j.tokenFrom(r)
	if raw == "" {
		return nil, invalidToken("no token: publishing needs one")
	}
	return j.verify(raw)
}

// authorizePublish checks that the grant covers every topic of every
// event; an event sent to one connection needs the grant of "*", as it may
// reach any subscriber.
func (g *grant) authorizePublish(events []*hub.Event) error {
	for i, e := range events {
		if err := g.authorizeEvent(e); err != nil {
			return insufficientScope("event %d: %v", i, err)
		}
	}
	return nil
}

// authorizeEvent is authorizePublish for one event.
func (g *grant) authorizeEvent(e *hub.Event) error {
	if e.Connection != "" && !hub.AnyCovers(g.publish, "*") {
		return insufficientScope("sending to a connection needs the publish grant of \"*\"")
	}
	for _, t := range e.Topics {
		if !hub.AnyCovers(g.publish, t) {
			return insufficientScope("the token does not allow publishing to %q", t)
		}
	}
	return nil
}

// invalidToken is the 401 for a missing or unacceptable token.
func invalidToken(format string, args ...any) httpError {
	e := errStatus(http.StatusUnauthorized, format, args...)
	e.authenticate = `Bearer error="invalid_token"`
	return e
}

// insufficientScope is the 403 for a valid token that lacks a grant.
func insufficientScope(format string, args ...any) httpError {
	e := errStatus(http.StatusForbidden, format, args...)
	e.authenticate = `Bearer error="insufficient_scope"`
	return e
}
