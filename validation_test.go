package caddysse

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestValidationSameForCaddyfileAndJSON runs each bad value through a
// Caddyfile (adapted, then provisioned and validated as `caddy validate`
// does) and through the equivalent JSON config: both must be refused with
// the same error, naming the JSON field and the value.
func TestValidationSameForCaddyfileAndJSON(t *testing.T) {
	tests := []struct {
		name      string
		caddyfile string // lines of the sse block
		json      string // fields of the sse handler
		want      string // the module's error, the same from both configs
	}{
		{"history negative", "history -1", `"history": -1`, "history -1: must not be negative"},
		{"history_max_age negative", "history 10 -1h", `"history": 10, "history_max_age": -3600000000000`, "history_max_age -1h0m0s: must not be negative"},
		{"heartbeat negative", "heartbeat -5s", `"heartbeat": -5000000000`, "heartbeat -5s: must not be negative"},
		{"idempotency negative", "idempotency -1m", `"idempotency": -60000000000`, "idempotency -1m0s: must not be negative"},
		{"stats_interval negative", "stats_topic s -5s", `"stats_topic": "s", "stats_interval": -5000000000`, "stats_interval -5s: must be at least 1s"},
		{"stats_interval too short", "stats_topic s 100ms", `"stats_topic": "s", "stats_interval": 100000000`, "stats_interval 100ms: must be at least 1s"},
		{"buffer negative", "buffer -4", `"buffer": -4`, "buffer -4: must be at least 1"},
		{"write_timeout zero", "write_timeout 0", `"write_timeout": 0`, "write_timeout 0s: must be positive"},
		{"write_timeout negative", "write_timeout -1s", `"write_timeout": -1000000000`, "write_timeout -1s: must be positive"},
		{"max_duration negative", "max_duration -1h", `"max_duration": -3600000000000`, "max_duration -1h0m0s: must not be negative"},
		{"retry negative", "retry -1s", `"retry": -1000000000`, "retry -1s: must not be negative"},
		{"max_subscribers negative", "max_subscribers -1", `"max_subscribers": -1`, "max_subscribers -1: must not be negative"},
		{"max_subscribers_per_ip negative", "max_subscribers 10 per_ip -2", `"max_subscribers": 10, "max_subscribers_per_ip": -2`, "max_subscribers_per_ip -2: must not be negative"},
		{"max_event_size above 1GiB", "max_event_size 2GiB", `"max_event_size": 2147483648`, "max_event_size 2147483648: must be at most 1GiB (1073741824)"},
		{"compress maybe", "compress maybe", `"compress": "maybe"`, `compress "maybe": want off, gzip, zstd, auto or on`},
		{"topic template bad", "topic a/*b", `"topics": ["a/*b"]`, `topic template: topic "a/*b": '*' may only end a selector`},
		{"jwt leeway negative", "jwt {\n\t\t\tkey 0123456789abcdef0123456789abcdef\n\t\t\tleeway -1s\n\t\t}", `"jwt": {"key": "0123456789abcdef0123456789abcdef", "leeway": -1000000000}`, "jwt: leeway -1s: must not be negative"},
		{"jwt alg unknown", "jwt {\n\t\t\talg none\n\t\t\tkey k\n\t\t}", `"jwt": {"alg": "none", "key": "k"}`, `jwt: alg "none": want one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA`},
		{"publish_origins without publish", "publish_origins https://a.example", `"publish_origins": ["https://a.example"]`, "publish_origins: this route does not publish; add publish"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fromCaddyfile := validateCaddyfile(t, "sse {\n\t\t"+tc.caddyfile+"\n\t}")
			fromJSON := validateJSON(t, `{"handler": "sse", `+tc.json+`}`)
			if fromCaddyfile != tc.want {
				t.Errorf("Caddyfile %q: error %q, want %q", tc.caddyfile, fromCaddyfile, tc.want)
			}
			if fromJSON != fromCaddyfile {
				t.Errorf("JSON %s: error %q, the Caddyfile's was %q", tc.json, fromJSON, fromCaddyfile)
			}
		})
	}
}

// TestValidationZeroMeansDefault checks the settings where 0 means the
// default, in both configs: they are accepted.
func TestValidationZeroMeansDefault(t *testing.T) {
	for _, field := range []string{"buffer", "max_event_size", "max_subscribers", "history", "heartbeat", "retry", "max_duration", "idempotency"} {
		t.Run(field, func(t *testing.T) {
			if err := validateCaddyfile(t, "sse {\n\t\t"+field+" 0\n\t}"); err != "" {
				t.Errorf("Caddyfile %s 0: %s", field, err)
			}
			if err := validateJSON(t, fmt.Sprintf(`{"handler": "sse", %q: 0}`, field)); err != "" {
				t.Errorf("JSON %s 0: %s", field, err)
			}
		})
	}
}

// validateCaddyfile adapts a site holding block and validates the config;
// it returns the module's error, or "" when the config is valid.
func validateCaddyfile(t *testing.T, block string) string {
	t.Helper()
	input := "{\n\tadmin off\n}\n:8080 {\n\t" + block + "\n}\n"
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting:\n%s\n%v", input, err)
	}
	return validateConfig(t, cfgJSON)
}

// validateJSON validates a config whose one route has handler.
func validateJSON(t *testing.T, handler string) string {
	t.Helper()
	cfg := `{"admin": {"disabled": true}, "apps": {"http": {"servers": {"srv0": {"listen": [":8080"], "routes": [{"handle": [` + handler + `]}]}}}}}`
	return validateConfig(t, []byte(cfg))
}

// validateConfig provisions and validates a config without starting it,
// and returns the sse handler's own error: what follows Caddy's "provision
// http.handlers.sse: " or "http.handlers.sse: invalid configuration: ".
func validateConfig(t *testing.T, cfgJSON []byte) string {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatalf("config %s: %v", cfgJSON, err)
	}
	err := caddy.Validate(&cfg)
	if err == nil {
		return ""
	}
	msg := err.Error()
	const mod = "http.handlers.sse: "
	i := strings.LastIndex(msg, mod)
	if i < 0 {
		t.Fatalf("the error does not come from the sse handler: %v", err)
	}
	return strings.TrimPrefix(msg[i+len(mod):], "invalid configuration: ")
}
