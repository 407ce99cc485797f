package caddysse

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// testSecret is an HMAC secret long enough for HS512.
const testSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// testKeys are generated once per test binary: RSA key generation is slow.
var testKeys = sync.OnceValue(func() map[string]crypto.Signer {
	keys := make(map[string]crypto.Signer)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	for _, c := range []struct {
		alg   string
		curve elliptic.Curve
	}{{"ES256", elliptic.P256()}, {"ES384", elliptic.P384()}, {"ES512", elliptic.P521()}} {
		k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			panic(err)
		}
		keys[c.alg] = k
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	keys["EdDSA"] = edKey
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"} {
		keys[alg] = rsaKey
	}
	return keys
})

// signingKeyFor is the key that signs alg in the tests.
func signingKeyFor(alg string) any {
	if isHMAC(alg) {
		return []byte(testSecret)
	}
	return testKeys()[alg]
}

// keyConfigFor is the Key setting that verifies alg: the secret, or the
// PEM public key.
func keyConfigFor(t testing.TB, alg string) string {
	t.Helper()
	if isHMAC(alg) {
		return testSecret
	}
	return publicPEM(t, testKeys()[alg].Public())
}

func publicPEM(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func privatePEM(t testing.TB, priv crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// sign makes a token with the given method and key.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing a test token: %v", err)
	}
	return s
}

// signFor signs claims the way a token for alg is signed.
func signFor(t testing.TB, alg string, claims jwt.Claims) string {
	t.Helper()
	return sign(t, jwt.GetSigningMethod(alg), signingKeyFor(alg), claims)
}

// provisioned returns a provisioned JWT config.
func provisioned(t testing.TB, j JWT) *JWT {
	t.Helper()
	if err := j.provision(); err != nil {
		t.Fatalf("provisioning jwt: %v", err)
	}
	return &j
}

// grants are the claims of a token that grants the given selectors.
func grants(subscribe, publish []string, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sse": map[string]any{"subscribe": subscribe, "publish": publish}}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// wantTokenError checks that err is the 401 or 403 a client must get.
func wantTokenError(t *testing.T, err error, status int, want string) {
	t.Helper()
	var he httpError
	if !errors.As(err, &he) {
		t.Fatalf("got %v, want an error with status %d", err, status)
	}
	if he.status != status {
		t.Errorf("status %d, want %d (%v)", he.status, status, err)
	}
	challenge := map[int]string{401: `Bearer error="invalid_token"`, 403: `Bearer error="insufficient_scope"`}[status]
	if he.authenticate != challenge {
		t.Errorf("WWW-Authenticate %q, want %q", he.authenticate, challenge)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestJWTVerifiesEveryAlgorithm(t *testing.T) {
	for _, alg := range jwtAlgs {
		t.Run(alg, func(t *testing.T) {
			j := provisioned(t, JWT{Alg: alg, Key: keyConfigFor(t, alg)})
			exp := time.Now().Add(time.Hour).Truncate(time.Second)
			token := signFor(t, alg, grants([]string{"news/*"}, []string{"chat"}, jwt.MapClaims{"exp": exp.Unix()}))
			g, err := j.verify(token)
			if err != nil {
				t.Fatalf("a token signed with %s was refused: %v", alg, err)
			}
			want := &grant{subscribe: []string{"news/*"}, publish: []string{"chat"}, expires: exp}
			if !reflect.DeepEqual(g, want) {
				t.Errorf("grant %+v, want %+v", g, want)
			}
		})
	}
}

func TestJWTRefusesTokens(t *testing.T) {
	now := time.Now()
	claims := grants([]string{"*"}, nil, nil)
	withClaim := func(k string, v any) jwt.MapClaims { return grants([]string{"*"}, nil, jwt.MapClaims{k: v}) }
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := keyConfigFor(t, "RS256")

	tests := []struct {
		name  string
		cfg   JWT
		token func(t *testing.T) string
		want  string
	}{
		{
			name: "alg none",
			cfg:  JWT{Key: testSecret},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims)
			},
			want: "not signed with HS256",
		},
		{
			name: "alg none against an RSA config",
			cfg:  JWT{Alg: "RS256", Key: rsaPEM},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims)
			},
			want: "not signed with RS256",
		},
		{
			// The classic confusion: the server's public key used as an
			// HMAC secret. The pinned alg refuses it before any check.
			name:  "HS256 signed with the RSA public key",
			cfg:   JWT{Alg: "RS256", Key: rsaPEM},
			token: func(t *testing.T) string { return sign(t, jwt.SigningMethodHS256, []byte(rsaPEM), claims) },
			want:  "not signed with RS256",
		},
		{
			name:  "RS256 token for an HS256 config",
			cfg:   JWT{Key: testSecret},
			token: func(t *testing.T) string { return signFor(t, "RS256", claims) },
			want:  "not signed with HS256",
		},
		{
			name:  "HS512 token for an HS256 config with the same secret",
			cfg:   JWT{Key: testSecret},
			token: func(t *testing.T) string { return signFor(t, "HS512", claims) },
			want:  "not signed with HS256",
		},
		{
			name:  "PS256 token for an RS256 config with the same key",
			cfg:   JWT{Alg: "RS256", Key: rsaPEM},
			token: func(t *testing.T) string { return signFor(t, "PS256", claims) },
			want:  "not signed with RS256",
		},
		{
			name:  "ES384 token for an ES256 config",
			cfg:   JWT{Alg: "ES256", Key: keyConfigFor(t, "ES256")},
			token: func(t *testing.T) string { return signFor(t, "ES384", claims) },
			want:  "not signed with ES256",
		},
		{
			name: "HMAC with another secret",
			cfg:  JWT{Key: testSecret},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodHS256, []byte(strings.ToUpper(testSecret)), claims)
			},
			want: "bad signature",
		},
		{
			name:  "RSA with another key",
			cfg:   JWT{Alg: "RS256", Key: rsaPEM},
			token: func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, otherRSA, claims) },
			want:  "bad signature",
		},
		{
			name: "payload changed after signing",
			cfg:  JWT{Key: testSecret},
			token: func(t *testing.T) string {
				good := strings.Split(signFor(t, "HS256", grants([]string{"a"}, nil, nil)), ".")
				evil := strings.Split(signFor(t, "HS256", claims), ".")
				return good[0] + "." + evil[1] + "." + good[2]
			},
			want: "bad signature",
		},
		{
			name:  "expired",
			cfg:   JWT{Key: testSecret},
			token: func(t *testing.T) string { return signFor(t, "HS256", withClaim("exp", now.Add(-time.Minute).Unix())) },
			want:  "expired",
		},
		{
			name:  "expired beyond the leeway",
			cfg:   JWT{Key: testSecret, Leeway: caddy.Duration(10 * time.Second)},
			token: func(t *testing.T) string { return signFor(t, "HS256", withClaim("exp", now.Add(-time.Minute).Unix())) },
			want:  "expired",
		},
		{
			name:  "not valid yet",
			cfg:   JWT{Key: testSecret},
			token: func(t *testing.T) string { return signFor(t, "HS256", withClaim("nbf", now.Add(time.Minute).Unix())) },
			want:  "not valid yet",
		},
		{
			name:  "wrong issuer",
			cfg:   JWT{Key: testSecret, Issuer: "https://auth.example"},
			token: func(t *testing.T) string { return signFor(t, "HS256", withClaim("iss", "https://evil.example")) },
			want:  "wrong issuer",
		},
		{
			name:  "issuer required but missing",
			cfg:   JWT{Key: testSecret, Issuer: "https://auth.example"},
			token: func(t *testing.T) string { return signFor(t, "HS256", claims) },
			want:  "no issuer",
		},
		{
			name:  "wrong audience",
			cfg:   JWT{Key: testSecret, Audience: "sse"},
			token: func(t *testing.T) string { return signFor(t, "HS256", withClaim("aud", []string{"billing"})) },
			want:  "wrong audience",
		},
		{
			name:  "audience required but missing",
			cfg:   JWT{Key: testSecret, Audience: "sse"},
			token: func(t *testing.T) string { return signFor(t, "HS256", claims) },
			want:  "no audience",
		},
		{
			name:  "not a token",
			cfg:   JWT{Key: testSecret},
			token: func(*testing.T) string { return "not-a-token" },
			want:  "malformed",
		},
		{
			name: "claims of the wrong type",
			cfg:  JWT{Key: testSecret},
			token: func(t *testing.T) string {
				return signFor(t, "HS256", jwt.MapClaims{"sse": map[string]any{"subscribe": "*"}})
			},
			want: "malformed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := provisioned(t, tc.cfg)
			token := tc.token(t)
			_, err := j.verify(token)
			wantTokenError(t, err, http.StatusUnauthorized, tc.want)
			for _, part := range strings.Split(token, ".") {
				if len(part) > 8 && strings.Contains(err.Error(), part) {
					t.Errorf("the error %q repeats part of the token", err)
				}
			}
		})
	}
}

func TestJWTLeeway(t *testing.T) {
	now := time.Now()
	j := provisioned(t, JWT{Key: testSecret, Leeway: caddy.Duration(10 * time.Second)})
	for name, claims := range map[string]jwt.MapClaims{
		"expired within the leeway":       {"exp": now.Add(-3 * time.Second).Unix()},
		"not valid yet within the leeway": {"nbf": now.Add(3 * time.Second).Unix()},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := j.verify(signFor(t, "HS256", grants([]string{"*"}, nil, claims))); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}

	// The stream of a token accepted thanks to the leeway lasts until exp
	// plus the leeway, not ending at once.
	exp := now.Add(-3 * time.Second).Truncate(time.Second)
	r := httptest.NewRequest(http.MethodGet, "/?topic=a", nil)
	r.Header.Set("Authorization", "Bearer "+signFor(t, "HS256", grants([]string{"a"}, nil, jwt.MapClaims{"exp": exp.Unix()})))
	ends, err := j.authorizeSubscribe(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := exp.Add(10 * time.Second); !ends.Equal(want) {
		t.Errorf("stream ends at %s, want exp + leeway = %s", ends, want)
	}
}

func TestJWTClaims(t *testing.T) {
	tests := []struct {
		name               string
		claims             jwt.MapClaims
		subscribe, publish []string
		expires            bool
	}{
		{
			name:      "sse claim",
			claims:    jwt.MapClaims{"sse": map[string]any{"subscribe": []string{"a", "b/*"}, "publish": []string{"c"}}},
			subscribe: []string{"a", "b/*"},
			publish:   []string{"c"},
		},
		{
			name:      "mercure claim, for tokens minted for Mercure",
			claims:    jwt.MapClaims{"mercure": map[string]any{"subscribe": []string{"*"}, "publish": []string{"x"}}},
			subscribe: []string{"*"},
			publish:   []string{"x"},
		},
		{
			name: "sse wins over mercure",
			claims: jwt.MapClaims{
				"sse":     map[string]any{"subscribe": []string{"mine"}},
				"mercure": map[string]any{"subscribe": []string{"*"}, "publish": []string{"*"}},
			},
			subscribe: []string{"mine"},
		},
		{
			name:   "no claim grants nothing",
			claims: jwt.MapClaims{"sub": "alice"},
		},
		{
			name:      "invalid selectors are dropped",
			claims:    jwt.MapClaims{"sse": map[string]any{"subscribe": []string{"a*b", "", "ok", "bad\nline"}}},
			subscribe: []string{"ok"},
		},
		{
			name:      "exp is read",
			claims:    jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "sse": map[string]any{"subscribe": []string{"a"}}},
			subscribe: []string{"a"},
			expires:   true,
		},
	}
	j := provisioned(t, JWT{Key: testSecret})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := j.verify(signFor(t, "HS256", tc.claims))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.subscribe) != len(tc.subscribe) || (len(tc.subscribe) > 0 && !reflect.DeepEqual(g.subscribe, tc.subscribe)) {
				t.Errorf("subscribe %q, want %q", g.subscribe, tc.subscribe)
			}
			if len(g.publish) != len(tc.publish) || (len(tc.publish) > 0 && !reflect.DeepEqual(g.publish, tc.publish)) {
				t.Errorf("publish %q, want %q", g.publish, tc.publish)
			}
			if g.expires.IsZero() == tc.expires {
				t.Errorf("expires %v, want an expiry: %v", g.expires, tc.expires)
			}
		})
	}
}

func TestJWTAuthorizeSubscribe(t *testing.T) {
	j := provisioned(t, JWT{Key: testSecret, Public: []string{"news/*", "status"}})
	token := func(subscribe ...string) string { return signFor(t, "HS256", grants(subscribe, nil, nil)) }
	tests := []struct {
		name   string
		query  string
		token  string
		status int // 0: allowed
	}{
		{"public topic without a token", "topic=status", "", 0},
		{"public prefix without a token", "topic=news/uk&topic=news/*", "", 0},
		{"public prefix does not cover its parent", "topic=news", "", 401},
		{"public exact does not cover a prefix", "topic=status*", "", 401},
		{"no query topic: the route's templates need nothing", "", "", 0},
		{"private topic without a token", "topic=orders", "", 401},
		{"one private among public ones", "topic=status&topic=orders", "", 401},
		{"exact grant", "topic=orders", token("orders"), 0},
		{"exact grant does not cover a prefix", "topic=orders*", token("orders"), 403},
		{"exact grant does not cover another topic", "topic=orders2", token("orders"), 403},
		{"prefix grant covers a topic below it", "topic=user/7/inbox", token("user/7/*"), 0},
		{"prefix grant covers a narrower prefix", "topic=user/7/in*", token("user/7/*"), 0},
		{"prefix grant does not cover a wider prefix", "topic=user/*", token("user/7/*"), 403},
		{"star grant covers star", "topic=*", token("*"), 0},
		{"every private topic needs a grant", "topic=a&topic=b", token("a"), 403},
		{"public topics need no grant beside a private one", "topic=status&topic=a", token("a"), 0},
		{"a sent token is checked even for public topics", "topic=status", "garbage", 401},
		{"a token without subscribe grants", "topic=a", signFor(t, "HS256", grants(nil, []string{"a"}, nil)), 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/?"+tc.query, nil)
			if tc.token != "" {
				r.Header.Set("Authorization", "Bearer "+tc.token)
			}
			_, err := j.authorizeSubscribe(r)
			if tc.status == 0 {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			wantTokenError(t, err, tc.status, "")
		})
	}

	var none *JWT
	if _, err := none.authorizeSubscribe(httptest.NewRequest(http.MethodGet, "/?topic=x", nil)); err != nil {
		t.Errorf("without jwt every topic is allowed, got %v", err)
	}
}

func TestJWTAuthorizePublish(t *testing.T) {
	tests := []struct {
		name    string
		publish []string
		events  []*hub.Event
		want    string // "" when allowed
	}{
		{"exact grant", []string{"chat"}, []*hub.Event{{Topics: []string{"chat"}}}, ""},
		{"prefix grant", []string{"chat/*"}, []*hub.Event{{Topics: []string{"chat/1", "chat/2"}}}, ""},
		{"one topic of an event not granted", []string{"chat/*"}, []*hub.Event{{Topics: []string{"chat/1", "news"}}}, `publishing to "news"`},
		{"one event of a batch not granted", []string{"a"}, []*hub.Event{{Topics: []string{"a"}}, {Topics: []string{"b"}}}, `event 1: the token does not allow publishing to "b"`},
		{"no publish grant", nil, []*hub.Event{{Topics: []string{"a"}}}, `publishing to "a"`},
		{"connection targeting with star", []string{"*"}, []*hub.Event{{Connection: "abc"}}, ""},
		{"connection targeting needs star", []string{"a/*"}, []*hub.Event{{Connection: "abc"}}, `needs the publish grant of "*"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := (&grant{publish: tc.publish}).authorizePublish(tc.events)
			if tc.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			wantTokenError(t, err, http.StatusForbidden, tc.want)
		})
	}

	j := provisioned(t, JWT{Key: testSecret, Public: []string{"*"}})
	_, err := j.publishGrant(httptest.NewRequest(http.MethodPost, "/", nil))
	wantTokenError(t, err, http.StatusUnauthorized, "no token: publishing needs one")
}

func TestJWTTokenLookupOrder(t *testing.T) {
	j := provisioned(t, JWT{Key: testSecret, Cookie: "auth", Query: "jwt"})
	tests := []struct {
		name                  string
		header, cookie, query string
		want                  string
	}{
		{"header first", "Bearer H", "C", "Q", "H"},
		{"bearer scheme is case-insensitive", "bearer H", "", "", "H"},
		{"cookie when no header", "", "C", "Q", "C"},
		{"cookie when the header is another scheme", "Basic dXNlcjpwYXNz", "C", "", "C"},
		{"cookie when the bearer token is empty", "Bearer ", "C", "", "C"},
		{"query last", "", "", "Q", "Q"},
		{"none", "", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := "/?topic=a"
			if tc.query != "" {
				target += "&jwt=" + tc.query
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "auth", Value: tc.cookie})
				r.AddCookie(&http.Cookie{Name: "sse_token", Value: "default-name-is-not-used"})
			}
			if got := j.tokenFrom(r); got != tc.want {
				t.Errorf("token %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJWTProvision(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secretFile := write("secret", testSecret+"\r\n")
	rsaFile := write("rsa.pem", keyConfigFor(t, "RS256"))
	privFile := write("private.pem", privatePEM(t, testKeys()["ES256"]))
	t.Setenv("SSE_TEST_JWT_KEY", testSecret)
	t.Setenv("SSE_TEST_EMPTY", "")

	ok := []struct {
		name string
		cfg  JWT
	}{
		{"key from an env placeholder", JWT{Key: "{env.SSE_TEST_JWT_KEY}"}},
		{"secret file with its line break trimmed", JWT{KeyFile: secretFile}},
		{"public key file", JWT{Alg: "RS256", KeyFile: rsaFile}},
		{"public key inline", JWT{Alg: "EdDSA", Key: keyConfigFor(t, "EdDSA")}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			j := provisioned(t, tc.cfg)
			token := signFor(t, j.Alg, grants([]string{"a"}, nil, nil))
			if _, err := j.verify(token); err != nil {
				t.Errorf("a good token was refused: %v", err)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		j := provisioned(t, JWT{Key: testSecret})
		if j.Alg != "HS256" || j.Cookie != "sse_token" || j.Query != "token" {
			t.Errorf("defaults: alg %q cookie %q query %q", j.Alg, j.Cookie, j.Query)
		}
	})

	bad := []struct {
		name string
		cfg  JWT
		want string
	}{
		{"no key", JWT{}, "key or key_file is required"},
		{"both keys", JWT{Key: testSecret, KeyFile: secretFile}, "key and key_file are both set"},
		{"alg none", JWT{Alg: "none", Key: testSecret}, `alg "none": want one of`},
		{"unknown alg", JWT{Alg: "HS1", Key: testSecret}, `alg "HS1": want one of`},
		{"lower-case alg", JWT{Alg: "hs256", Key: testSecret}, `alg "hs256"`},
		{"short secret", JWT{Key: "secret"}, "alg HS256 wants a secret of at least 32 bytes, the key has 6"},
		{"short secret for HS512", JWT{Alg: "HS512", Key: testSecret[:48]}, "at least 64 bytes"},
		{"public key as an HMAC secret", JWT{KeyFile: rsaFile}, "alg HS256 wants a shared secret, but the key is a PEM block"},
		{"secret for RS256", JWT{Alg: "RS256", Key: testSecret}, "alg RS256 wants a PEM public key: no PEM block found"},
		{"EC key for RS256", JWT{Alg: "RS256", Key: keyConfigFor(t, "ES256")}, "alg RS256 wants an RSA key, but the key is an ECDSA P-256 key"},
		{"P-384 key for ES256", JWT{Alg: "ES256", Key: keyConfigFor(t, "ES384")}, "alg ES256 wants an ECDSA P-256 key, but the key is an ECDSA P-384 key"},
		{"RSA key for EdDSA", JWT{Alg: "EdDSA", KeyFile: rsaFile}, "alg EdDSA wants an Ed25519 key, but the key is an RSA key"},
		{"private key", JWT{Alg: "ES256", KeyFile: privFile}, "private key; give the server only the public key"},
		{"missing key file", JWT{KeyFile: filepath.Join(dir, "nope")}, "key_file: open"},
		{"empty env placeholder", JWT{Key: "{env.SSE_TEST_EMPTY}"}, "key:"},
		{"negative leeway", JWT{Key: testSecret, Leeway: caddy.Duration(-time.Second)}, "leeway -1s: must not be negative"},
		{"bad public selector", JWT{Key: testSecret, Public: []string{"a*b"}}, "public: topic \"a*b\""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.provision()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("the error %q repeats the secret", err)
			}
		})
	}
}

func TestIssueToken(t *testing.T) {
	now := time.Now()
	for _, alg := range jwtAlgs {
		t.Run(alg, func(t *testing.T) {
			key := []byte(testSecret)
			if !isHMAC(alg) {
				key = []byte(privatePEM(t, testKeys()[alg]))
			}
			token, err := issueToken(tokenRequest{
				Alg: alg, Key: key, Subscribe: []string{"news/*"}, Publish: []string{"chat"},
				TTL: time.Hour, Issuer: "me", Audience: "sse", Subject: "alice",
			}, now)
			if err != nil {
				t.Fatal(err)
			}
			j := provisioned(t, JWT{Alg: alg, Key: keyConfigFor(t, alg), Issuer: "me", Audience: "sse"})
			g, err := j.verify(token)
			if err != nil {
				t.Fatalf("the module refused the issued token: %v", err)
			}
			want := &grant{subscribe: []string{"news/*"}, publish: []string{"chat"}, expires: now.Add(time.Hour).Truncate(time.Second)}
			if !reflect.DeepEqual(g, want) {
				t.Errorf("grant %+v, want %+v", g, want)
			}
		})
	}
	t.Run("ttl 0 never expires", func(t *testing.T) {
		token, err := issueToken(tokenRequest{Alg: "HS256", Key: []byte(testSecret), Subscribe: []string{"a"}}, now)
		if err != nil {
			t.Fatal(err)
		}
		g, err := provisioned(t, JWT{Key: testSecret}).verify(token)
		if err != nil || !g.expires.IsZero() {
			t.Errorf("grant %+v, error %v: want no expiry", g, err)
		}
	})

	bad := []struct {
		name string
		req  tokenRequest
		want string
	}{
		{"nothing granted", tokenRequest{Alg: "HS256", Key: []byte(testSecret)}, "nothing to grant"},
		{"alg none", tokenRequest{Alg: "none", Key: []byte(testSecret), Subscribe: []string{"a"}}, `--alg "none"`},
		{"bad selector", tokenRequest{Alg: "HS256", Key: []byte(testSecret), Publish: []string{"a*b"}}, `topic "a*b"`},
		{"short secret", tokenRequest{Alg: "HS256", Key: []byte("x"), Subscribe: []string{"a"}}, "at least 32 bytes"},
		{"public key to sign", tokenRequest{Alg: "RS256", Key: []byte(keyConfigFor(t, "RS256")), Subscribe: []string{"a"}}, `unsupported PEM block "PUBLIC KEY"`},
		{"wrong key type", tokenRequest{Alg: "ES256", Key: []byte(privatePEM(t, testKeys()["EdDSA"])), Subscribe: []string{"a"}}, "alg ES256 wants an ECDSA P-256 key, but the key is an Ed25519 key"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := issueToken(tc.req, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzJWTClaims signs arbitrary claims and checks that verification never
// panics, that a grant holds only valid selectors, and that what a grant
// covers is really matched: every topic the requested selector matches is
// matched by a granted selector.
func FuzzJWTClaims(f *testing.F) {
	f.Add([]byte(`{"sse":{"subscribe":["news/*"],"publish":["chat"]}}`), "news/uk", "news/ukx")
	f.Add([]byte(`{"mercure":{"subscribe":["*"]}}`), "*", "anything")
	f.Add([]byte(`{"sse":{"subscribe":["a*b","a/*"]},"mercure":{"subscribe":["*"]}}`), "a/*", "a/b")
	f.Add([]byte(`{"sse":{"subscribe":"*"}}`), "x", "x")
	f.Add([]byte(`{"exp":1e300,"sse":{"subscribe":[""]}}`), "", "")
	f.Add([]byte(`{"sse":null,"mercure":{"publish":["p*"]}}`), "p*", "p")
	f.Add([]byte(`[]`), "a", "a")
	j := provisioned(f, JWT{Key: testSecret})
	f.Fuzz(func(t *testing.T, claims []byte, requested, topic string) {
		token := hs256Raw(claims)
		g, err := j.verify(token)
		if err != nil {
			var he httpError
			if !errors.As(err, &he) || he.status != http.StatusUnauthorized {
				t.Fatalf("a refused token must be a 401, got %v", err)
			}
			return
		}
		for _, sel := range slices.Concat(g.subscribe, g.publish) {
			if hub.CheckSelector(sel) != nil {
				t.Fatalf("grant holds invalid selector %q", sel)
			}
		}
		if hub.CheckSelector(requested) != nil || !hub.AnyCovers(g.subscribe, requested) {
			return
		}
		if hub.SelectorMatches(requested, topic) && !hub.MatchesAny(g.subscribe, []string{topic}) {
			t.Fatalf("grant %q covers %q, which matches %q, but no granted selector matches it", g.subscribe, requested, topic)
		}
	})
}

// hs256Raw signs arbitrary claim bytes with testSecret, as a token whose
// payload need not be what encoding/json would write.
func hs256Raw(claims []byte) string {
	header := jwtSegment([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload := jwtSegment(claims)
	sig, _ := jwt.SigningMethodHS256.Sign(header+"."+payload, []byte(testSecret))
	return header + "." + payload + "." + jwtSegment(sig)
}

func jwtSegment(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
