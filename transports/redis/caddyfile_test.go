package redis

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        Transport
		err         string
	}{
		{"url only", `redis redis://127.0.0.1:6379/2`, Transport{URL: "redis://127.0.0.1:6379/2"}, ""},
		{"every option", `redis rediss://cache:6380 {
			stream events
			maxlen 5000
			password {env.REDIS_PASSWORD}
			addresses cache2:6380 cache3:6380
			cluster
		}`, Transport{URL: "rediss://cache:6380", Stream: "events", MaxLen: 5000, Password: "{env.REDIS_PASSWORD}", Addresses: []string{"cache2:6380", "cache3:6380"}, Cluster: true}, ""},
		{"sentinel", `redis redis://sentinel1:26379 {
			master_name mymaster
			addresses sentinel2:26379
		}`, Transport{URL: "redis://sentinel1:26379", MasterName: "mymaster", Addresses: []string{"sentinel2:26379"}}, ""},
		{"two urls", `redis redis://a redis://b`, Transport{}, "wrong argument count"},
		{"duplicate", `redis redis://a {
			stream x
			stream y
		}`, Transport{}, `duplicate subdirective "stream"`},
		{"unknown", `redis redis://a {
			streams x
		}`, Transport{}, `unrecognized subdirective "streams"`},
		{"maxlen not a number", `redis redis://a {
			maxlen lots
		}`, Transport{}, `maxlen "lots"`},
		{"cluster with an argument", `redis redis://a {
			cluster yes
		}`, Transport{}, "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Transport
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parsed %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The JSON config gets the same checks as the Caddyfile: Provision and
// Validate judge the values.
func TestProvisionAndValidate(t *testing.T) {
	t.Setenv("TEST_REDIS_PASSWORD", "s3cret")
	t.Setenv("TEST_REDIS_URL", "redis://10.0.0.7:6390/3")
	for _, tc := range []struct {
		name, json string
		err        string
		check      func(t *testing.T, tr *Transport)
	}{
		{name: "placeholders", json: `{"url": "{env.TEST_REDIS_URL}", "password": "{env.TEST_REDIS_PASSWORD}"}`, check: func(t *testing.T, tr *Transport) {
			if tr.opts.Password != "s3cret" || tr.opts.Addrs[0] != "10.0.0.7:6390" || tr.opts.DB != 3 {
				t.Errorf("options %+v", tr.opts)
			}
		}},
		{name: "tls", json: `{"url": "rediss://cache:6380"}`, check: func(t *testing.T, tr *Transport) {
			if tr.opts.TLSConfig == nil {
				t.Error("rediss:// without TLS")
			}
		}},
		{name: "cluster seeds", json: `{"url": "redis://a:7000", "addresses": ["b:7000", "c:7000"]}`, check: func(t *testing.T, tr *Transport) {
			if !reflect.DeepEqual(tr.opts.Addrs, []string{"a:7000", "b:7000", "c:7000"}) {
				t.Errorf("addresses %v", tr.opts.Addrs)
			}
		}},
		{name: "a hash tag in the stream", json: `{"url": "redis://a", "stream": "app:{sse}:events"}`},
		{name: "no url", json: `{}`, err: "url is required"},
		{name: "an unset variable", json: `{"url": "{env.TEST_REDIS_UNSET}"}`, err: "url is required"},
		{name: "bad scheme", json: `{"url": "http://a"}`, err: "url"},
		{name: "small maxlen", json: `{"url": "redis://a", "maxlen": 10}`, err: "maxlen 10: must be at least 100"},
		{name: "negative maxlen", json: `{"url": "redis://a", "maxlen": -1}`, err: "maxlen -1"},
		{name: "stray brace", json: `{"url": "redis://a", "stream": "a{b"}`, err: `stream "a{b"`},
		{name: "empty hash tag", json: `{"url": "redis://a", "stream": "a{}b"}`, err: "hash tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr Transport
			if err := json.Unmarshal([]byte(tc.json), &tr); err != nil {
				t.Fatal(err)
			}
			err := tr.Provision(caddy.Context{})
			if err == nil {
				err = tr.Validate()
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, &tr)
			}
		})
	}
}

func TestKeyPrefix(t *testing.T) {
	for stream, want := range map[string]string{
		"sse:default":    "{sse:default}",
		"app:{sse}:feed": "app:{sse}:feed",
		"{orders}":       "{orders}",
		"x{a}y{b}":       "x{a}y{b}",
	} {
		if got, err := keyPrefix(stream); err != nil || got != want {
			t.Errorf("keyPrefix(%q) = %q, %v; want %q", stream, got, err, want)
		}
	}
}
