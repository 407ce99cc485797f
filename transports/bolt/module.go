// Package bolt is caddy-sse's durable transport: it keeps a hub's events,
// their ids and the hub's epoch in a bbolt file, so the history and the ids
// survive a restart and a client resumes across it with no reset. A publish
// is acknowledged only once the transaction that holds it is on disk;
// concurrent publishes share one transaction.
package bolt

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-sse/caddy-sse/hub"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is the bolt transport module: a hub's history in a bbolt file
// on local disk. The file is opened when the hub is created and stays open
// for the hub's life, across config reloads; only one process, and one hub,
// can hold it at a time.
type Transport struct {
	// Path is the bolt file. A relative path is taken relative to Caddy's
	// data directory; placeholders such as {env.SSE_DATA} are replaced.
	// Missing directories are created when the hub opens the file.
	// Default: sse/<hub>.db in Caddy's data directory, the hub's name
	// escaped as a URL path segment.
	Path string `json:"path,omitempty"`

	// LockTimeout is how long opening the file waits for the process
	// that holds it to let go; then the hub fails to start, with an error
	// naming the file. Default: 1s.
	LockTimeout caddy.Duration `json:"lock_timeout,omitempty"`

	path string // Path with placeholders replaced, absolute; empty for the default
}

// DefaultLockTimeout is the LockTimeout when none is set.
const DefaultLockTimeout = time.Second

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.sse.transports.bolt",
		New: func() caddy.Module { return new(Transport) },
	}
}

// Provision resolves the file's path. It does not open the file: a reload
// provisions the new config while the running hub still holds it.
func (t *Transport) Provision(caddy.Context) error {
	if t.Path == "" {
		return nil // the hub's default file, named when it opens
	}
	p, err := caddy.NewReplacer().ReplaceOrErr(t.Path, true, true)
	if err != nil {
		return fmt.Errorf("bolt transport path %q: %w", t.Path, err)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(caddy.AppDataDir(), p)
	}
	t.path = filepath.Clean(p)
	return nil
}

// Validate checks the configuration's values.
func (t *Transport) Validate() error {
	if t.LockTimeout < 0 {
		return fmt.Errorf("bolt transport: lock_timeout %v is negative", time.Duration(t.LockTimeout))
	}
	return nil
}

// OpenTransport opens the file for a hub; see Open.
func (t *Transport) OpenTransport(cfg hub.TransportConfig) (hub.Transport, error) {
	path := t.path
	switch {
	case t.Path == "":
		path = DefaultPath(cfg.Hub)
	case path == "":
		return nil, errors.New("bolt transport: not provisioned")
	}
	timeout := time.Duration(t.LockTimeout)
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	return Open(path, timeout, cfg)
}

// DefaultPath is the file of a hub whose transport names none.
func DefaultPath(hubName string) string {
	return filepath.Join(caddy.AppDataDir(), "sse", url.PathEscape(hubName)+".db")
}

// UnmarshalCaddyfile sets up the transport from Caddyfile tokens, from the
// word bolt on:
//
//	transport bolt [<path>] {
//		lock_timeout <duration>
//	}
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "bolt"
	if d.NextArg() {
		t.Path = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("%s given twice", name)
		}
		seen[name] = true
		switch name {
		case "lock_timeout":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("lock_timeout %q: %v", d.Val(), err)
			}
			t.LockTimeout = caddy.Duration(dur)
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Transport)(nil)
	_ caddy.Validator       = (*Transport)(nil)
	_ caddyfile.Unmarshaler = (*Transport)(nil)
	_ hub.Opener            = (*Transport)(nil)
)
