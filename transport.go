package caddysse

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-sse/caddy-sse/hub"
	// The transports that ship with the module: building Caddy with it
	// brings them.
	_ "github.com/caddy-sse/caddy-sse/transports/bolt"
	_ "github.com/caddy-sse/caddy-sse/transports/redis"
)

// Transports are guest modules in the http.handlers.sse.transports
// namespace, as reverse_proxy's transports are in theirs: a module that
// implements hub.Opener is a transport, so a third party adds one without
// forking. A hub opens its transport once, when it is created; the hub,
// with its transport, then lives across reloads.

const transportNamespace = "http.handlers.sse.transports"

// defaultTransport is the transport of a hub that names none.
const defaultTransport = `{"name":"memory"}`

func init() {
	caddy.RegisterModule(MemoryTransport{})
}

// MemoryTransport keeps a hub's history in memory: the newest events in a
// ring, lost when Caddy exits. It is the default. Caddyfile:
// `transport memory`.
type MemoryTransport struct{}

// CaddyModule returns the Caddy module information.
func (MemoryTransport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  transportNamespace + ".memory",
		New: func() caddy.Module { return new(MemoryTransport) },
	}
}

// OpenTransport implements hub.Opener.
func (MemoryTransport) OpenTransport(cfg hub.TransportConfig) (hub.Transport, error) {
	return hub.Memory{}.OpenTransport(cfg)
}

// UnmarshalCaddyfile sets up the transport from `transport memory`.
func (*MemoryTransport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the transport's name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("transport memory takes no options")
	}
	return nil
}

// transportNames lists the transports this build of Caddy has.
func transportNames() []string {
	var names []string
	for _, m := range caddy.GetModules(transportNamespace) {
		names = append(names, m.ID.Name())
	}
	return names
}

// loadTransport loads the route's transport module, and the key by which
// routes sharing the hub are held to agree on it: its config as compact
// JSON.
func (h *Handler) loadTransport(ctx caddy.Context) error {
	var name string
	if json.Unmarshal(h.TransportRaw, &name) == nil {
		// "transport": "memory", as configs before transport modules said.
		h.TransportRaw, _ = json.Marshal(map[string]string{"name": name})
	}
	raw := h.TransportRaw
	if len(raw) == 0 {
		raw = json.RawMessage(defaultTransport)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	h.transportKey = compact.String()
	if len(h.TransportRaw) == 0 {
		h.transport = MemoryTransport{}
		return nil
	}
	mod, err := ctx.LoadModule(h, "TransportRaw")
	if err != nil {
		return fmt.Errorf("loading transport: %w", err)
	}
	open, ok := mod.(hub.Opener)
	if !ok {
		return fmt.Errorf("transport module %T does not open transports (implement hub.Opener)", mod)
	}
	h.transport = open
	return nil
}

// Interface guards
var (
	_ hub.Opener            = MemoryTransport{}
	_ caddyfile.Unmarshaler = (*MemoryTransport)(nil)
)
