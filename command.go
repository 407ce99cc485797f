package caddysse

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "sse-token",
		Usage: "--key <secret> | --key-file <path> [--alg <alg>] [--subscribe <selector>]... [--publish <selector>]... [--ttl <duration>] [--issuer <iss>] [--audience <aud>] [--sub <subject>]",
		Short: "Prints a JSON Web Token for the sse directive's jwt option",
		Long: `
Prints a signed token that grants the given topic selectors, in the claims
the sse directive's jwt option reads:

	{"sse": {"subscribe": [...], "publish": [...]}}

For HS256, HS384 and HS512 the key is the shared secret, from --key or, so
that it stays out of shell history and process lists, from --key-file (its
trailing line breaks trimmed). The RS, PS, ES and EdDSA algorithms sign with
the PEM private key in --key-file; the server verifies with its public key.

--subscribe and --publish may be repeated. --ttl sets the expiry (default
1h; 0 for a token that never expires); a stream opened with the token ends
when it expires.
`,
		CobraFunc: func(cmd *cobra.Command) {
			fs := cmd.Flags()
			fs.String("key", "", "the HMAC secret (or a PEM private key)")
			fs.String("key-file", "", "a file holding the HMAC secret or the PEM private key")
			fs.String("alg", defaultJWTAlg, "the signing algorithm: "+strings.Join(jwtAlgs, ", "))
			fs.StringArray("subscribe", nil, "a topic selector the token may subscribe to (repeatable)")
			fs.StringArray("publish", nil, "a topic selector the token may publish to (repeatable)")
			fs.String("ttl", "1h", "how long the token is valid; 0 for no expiry")
			fs.String("issuer", "", "the iss claim")
			fs.String("audience", "", "the aud claim")
			fs.String("sub", "", "the sub claim")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdSSEToken)
		},
	})
}

// tokenRequest is what a token is issued from.
type tokenRequest struct {
	Alg       string
	Key       []byte
	Subscribe []string
	Publish   []string
	TTL       time.Duration // 0: no expiry
	Issuer    string
	Audience  string
	Subject   string
}

func cmdSSEToken(fl caddycmd.Flags) (int, error) {
	req, err := tokenRequestFrom(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	token, err := issueToken(req, time.Now())
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	fmt.Println(token)
	return caddy.ExitCodeSuccess, nil
}

func tokenRequestFrom(fl caddycmd.Flags) (tokenRequest, error) {
	req := tokenRequest{
		Alg:      fl.String("alg"),
		Issuer:   fl.String("issuer"),
		Audience: fl.String("audience"),
		Subject:  fl.String("sub"),
	}
	var err error
	if req.Subscribe, err = fl.GetStringArray("subscribe"); err != nil {
		return req, err
	}
	if req.Publish, err = fl.GetStringArray("publish"); err != nil {
		return req, err
	}
	if req.TTL, err = caddy.ParseDuration(fl.String("ttl")); err != nil || req.TTL < 0 {
		return req, fmt.Errorf("--ttl %q: want a duration such as 1h, or 0", fl.String("ttl"))
	}
	key, keyFile := fl.String("key"), fl.String("key-file")
	switch {
	case key != "" && keyFile != "":
		return req, errors.New("--key and --key-file are both set; use one")
	case key != "":
		req.Key = []byte(key)
	case keyFile != "":
		if req.Key, err = os.ReadFile(keyFile); err != nil {
			return req, fmt.Errorf("--key-file: %w", err)
		}
		if isHMAC(req.Alg) {
			req.Key = []byte(strings.TrimRight(string(req.Key), "\r\n"))
		}
	default:
		return req, errors.New("--key or --key-file is required")
	}
	return req, nil
}

// issueToken signs a token granting the request's selectors.
func issueToken(req tokenRequest, now time.Time) (string, error) {
	if !slices.Contains(jwtAlgs, req.Alg) {
		return "", fmt.Errorf("--alg %q: want one of %s", req.Alg, strings.Join(jwtAlgs, ", "))
	}
	if len(req.Subscribe) == 0 && len(req.Publish) == 0 {
		return "", errors.New("nothing to grant: give --subscribe or --publish")
	}
	for _, sel := range slices.Concat(req.Subscribe, req.Publish) {
		if err := hub.CheckSelector(sel); err != nil {
			return "", err
		}
	}
	key, err := signingKey(req.Alg, req.Key)
	if err != nil {
		return "", err
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:   req.Issuer,
			Subject:  req.Subject,
			IssuedAt: jwt.NewNumericDate(now),
		},
		SSE: &scopeClaims{Subscribe: req.Subscribe, Publish: req.Publish},
	}
	if req.Audience != "" {
		claims.Audience = jwt.ClaimStrings{req.Audience}
	}
	if req.TTL > 0 {
		claims.ExpiresAt = jwt.NewNumericDate(now.Add(req.TTL))
	}
	token, err := jwt.NewWithClaims(jwt.GetSigningMethod(req.Alg), claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing the token: %w", err)
	}
	return token, nil
}
