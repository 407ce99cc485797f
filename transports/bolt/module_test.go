package bolt

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-sse/caddy-sse/hub"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		want        Transport
		err         string
	}{
		{"path only", `bolt /var/lib/sse/hub.db`, Transport{Path: "/var/lib/sse/hub.db"}, ""},
		{"relative path", `bolt sse/hub.db`, Transport{Path: "sse/hub.db"}, ""},
		{"with a block", "bolt hub.db {\n\tlock_timeout 3s\n}", Transport{Path: "hub.db", LockTimeout: caddy.Duration(3 * time.Second)}, ""},
		{"no path: the hub's default file", `bolt`, Transport{}, ""},
		{"no path, with a block", "bolt {\n\tlock_timeout 2s\n}", Transport{LockTimeout: caddy.Duration(2 * time.Second)}, ""},
		{"two paths", `bolt a.db b.db`, Transport{}, "wrong argument count"},
		{"lock_timeout without a value", "bolt hub.db {\n\tlock_timeout\n}", Transport{}, "wrong argument count"},
		{"lock_timeout not a duration", "bolt hub.db {\n\tlock_timeout soon\n}", Transport{}, `lock_timeout "soon"`},
		{"lock_timeout twice", "bolt hub.db {\n\tlock_timeout 1s\n\tlock_timeout 2s\n}", Transport{}, "lock_timeout given twice"},
		{"unknown option", "bolt hub.db {\n\tsync off\n}", Transport{}, `unrecognized subdirective "sync"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Transport
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestProvisionAndValidate(t *testing.T) {
	t.Setenv("BOLT_TEST_DIR", "/srv/sse")
	tests := []struct {
		name, json string
		path       string // resolved
		err        string
	}{
		{"absolute", `{"path":"/var/lib/hub.db"}`, "/var/lib/hub.db", ""},
		{"relative to the data directory", `{"path":"sse/hub.db"}`, filepath.Join(caddy.AppDataDir(), "sse/hub.db"), ""},
		{"environment placeholder", `{"path":"{env.BOLT_TEST_DIR}/hub.db"}`, "/srv/sse/hub.db", ""},
		{"unknown placeholder", `{"path":"{nope}/hub.db"}`, "", `path "{nope}/hub.db"`},
		{"no path: named when the hub opens", `{}`, "", ""},
		{"negative lock_timeout", `{"path":"/x.db","lock_timeout":-1000000000}`, "", "lock_timeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr Transport
			if err := json.Unmarshal([]byte(tt.json), &tr); err != nil {
				t.Fatal(err)
			}
			err := tr.Provision(caddy.Context{})
			if err == nil {
				err = tr.Validate()
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || tr.path != tt.path {
				t.Fatalf("path %q, %v; want %q", tr.path, err, tt.path)
			}
		})
	}
}

func TestDefaultPath(t *testing.T) {
	// Without a path each hub gets a file of its own in the data
	// directory; a hub name cannot reach outside it.
	dir := filepath.Join(caddy.AppDataDir(), "sse")
	for name, want := range map[string]string{
		"default":   filepath.Join(dir, "default.db"),
		"orders/eu": filepath.Join(dir, "orders%2Feu.db"),
		"../x":      filepath.Join(dir, "..%2Fx.db"),
	} {
		if got := DefaultPath(name); got != want {
			t.Errorf("DefaultPath(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestOpenTransportUsesTheDefaultLockTimeout(t *testing.T) {
	// Provisioning opens nothing; OpenTransport does, and a second hub on
	// the same file is refused after the default timeout, not left hanging.
	path := dbPath(t)
	tr := &Transport{Path: path}
	if err := tr.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	cfg := hub.TransportConfig{Retention: keepAll, Deliver: func([]*hub.Event) {}}
	first, err := tr.OpenTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = tr.OpenTransport(cfg)
	if err == nil || !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), DefaultLockTimeout.String()) {
		t.Fatalf("second OpenTransport: %v", err)
	}
}
