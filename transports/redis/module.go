// Package redis is the Redis Streams transport of caddy-sse: the events of
// a hub are entries of one Redis stream, shared by every Caddy node that
// names it, so any number of nodes deliver the same events in the same
// order and any node resumes any client.
//
// Each node runs one reader per hub (XREAD BLOCK from its last id) that
// hands every entry, its own publishes included, to the hub's fan-out; a
// publish is one atomic script call (XADD MAXLEN ~, with the idempotency
// keys that all nodes share) and is acknowledged once Redis accepted it.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-sse/caddy-sse/hub"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport keeps a hub's events in a Redis stream shared by every node
// that names it. Caddyfile: `transport redis <url> [{ ... }]`.
type Transport struct {
	// URL is the Redis server: redis://[[user]:password@]host[:port][/db],
	// rediss:// for TLS, or unix:///path/to/socket, with go-redis's query
	// options (dial_timeout, read_timeout, pool_size, ...). Commands are
	// not retried unless max_retries is given: a publish retried after a
	// timeout might be stored twice. With master_name, its host is a
	// Sentinel. Placeholders such as {env.REDIS_URL} are replaced.
	// Required.
	URL string `json:"url,omitempty"`
	// Addresses are more host:port addresses beside the URL's: the other
	// seed nodes of a Redis Cluster, or the other Sentinels. Several
	// addresses mean Cluster unless master_name is set. Default: none.
	Addresses []string `json:"addresses,omitempty"`
	// MasterName is the name of the master the Sentinels watch; setting it
	// connects through Sentinel. Default: none.
	MasterName string `json:"master_name,omitempty"`
	// Cluster speaks the Redis Cluster protocol even with one address.
	// Default: false (true when there are several addresses).
	Cluster bool `json:"cluster,omitempty"`
	// Password authenticates to Redis, replacing the URL's; placeholders
	// such as {env.REDIS_PASSWORD} are replaced. Default: the URL's.
	Password string `json:"password,omitempty"`
	// Stream is the key of the hub's stream. The epoch lives in it; the
	// idempotency keys ("{<stream>}:idem:<key>") and the newest trimmed id
	// ("{<stream>}:trimmed") beside it, in its Cluster hash slot (a key
	// with a hash tag of its own is their prefix as it is). Default:
	// "sse:<hub name>".
	Stream string `json:"stream,omitempty"`
	// MaxLen is how many entries the stream keeps: once it holds a tenth
	// more (at least 100 more), the oldest are trimmed down to MaxLen.
	// At least 100. Default: the hub's history, and at least 1000, so that
	// a reader that falls behind for a moment still finds its entries.
	MaxLen int `json:"maxlen,omitempty"`

	opts *redis.UniversalOptions
}

// minMaxLen is the least the stream keeps when maxlen follows history,
// and minExplicitMaxLen the least maxlen a config may set.
const (
	minMaxLen         = 1000
	minExplicitMaxLen = 100
)

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.sse.transports.redis",
		New: func() caddy.Module { return new(Transport) },
	}
}

// Provision resolves the placeholders and parses the URL; it does not
// connect: a hub connects when it opens its transport.
func (t *Transport) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	raw := repl.ReplaceKnown(t.URL, "")
	if raw == "" {
		return errors.New("redis transport: url is required")
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return fmt.Errorf("redis transport: url: %w", err) // ParseURL never echoes the password
	}
	u := &redis.UniversalOptions{
		Addrs:        append([]string{opt.Addr}, t.Addresses...),
		ClientName:   opt.ClientName,
		DB:           opt.DB,
		Protocol:     opt.Protocol,
		Username:     opt.Username,
		Password:     opt.Password,
		MaxRetries:   opt.MaxRetries,
		DialTimeout:  opt.DialTimeout,
		ReadTimeout:  opt.ReadTimeout,
		WriteTimeout: opt.WriteTimeout,
		PoolSize:     opt.PoolSize,
		MinIdleConns: opt.MinIdleConns,
		PoolTimeout:  opt.PoolTimeout,
		TLSConfig:    opt.TLSConfig,
		MasterName:   t.MasterName,

		IsClusterMode: t.Cluster,
	}
	if u.MaxRetries == 0 {
		// A script retried after a timeout may already have run: its
		// events would be stored twice. Publishers retry instead, with
		// an Idempotency-Key, and the reader retries on its own.
		u.MaxRetries = -1
	}
	if opt.Network == "unix" {
		path := opt.Addr
		u.Dialer = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, "unix", path)
		}
	}
	if t.Password != "" {
		u.Password = repl.ReplaceKnown(t.Password, "")
	}
	t.opts = u
	return nil
}

// Validate checks the values.
func (t *Transport) Validate() error {
	if t.MaxLen != 0 && t.MaxLen < minExplicitMaxLen {
		return fmt.Errorf("redis transport: maxlen %d: must be at least %d, so that no node's reader finds its entries trimmed", t.MaxLen, minExplicitMaxLen)
	}
	if t.Stream != "" {
		if _, err := keyPrefix(t.Stream); err != nil {
			return fmt.Errorf("redis transport: %w", err)
		}
	}
	if t.opts != nil && t.opts.Dialer != nil && (len(t.opts.Addrs) > 1 || t.Cluster || t.MasterName != "") {
		return errors.New("redis transport: a unix socket URL cannot be combined with addresses, cluster or master_name")
	}
	return nil
}

// keyPrefix is the prefix of the keys kept beside the stream: the stream
// key itself when it holds a Redis hash tag, else the key in braces, which
// puts them in the stream's Cluster hash slot either way, as the scripts
// that touch both need.
func keyPrefix(stream string) (string, error) {
	open := strings.IndexByte(stream, '{')
	if open < 0 && !strings.Contains(stream, "}") {
		return "{" + stream + "}", nil
	}
	if open >= 0 {
		if end := strings.IndexByte(stream[open+1:], '}'); end > 0 {
			return stream, nil
		}
	}
	return "", fmt.Errorf("stream %q: braces must form a Redis hash tag such as {name}", stream)
}

// openTimeout bounds the first contact with Redis when a hub opens.
const openTimeout = 10 * time.Second

// OpenTransport implements hub.Opener: it connects, reads (or starts) the
// epoch, and starts the hub's reader at the stream's end. A Redis that
// cannot be reached fails the hub's creation, and so the config's load.
func (t *Transport) OpenTransport(cfg hub.TransportConfig) (hub.Transport, error) {
	if t.opts == nil {
		return nil, errors.New("redis transport: not provisioned")
	}
	key := t.Stream
	if key == "" {
		key = "sse:" + cfg.Hub
	}
	prefix, err := keyPrefix(key)
	if err != nil {
		return nil, err
	}
	client := redis.NewUniversalClient(t.opts)
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	st, err := readState(ctx, client, key, prefix+":trimmed")
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis stream %q: %w", key, err)
	}
	return open(client, key, prefix, t.MaxLen, st, cfg), nil
}

// Interface guards
var (
	_ hub.Opener            = (*Transport)(nil)
	_ caddy.Provisioner     = (*Transport)(nil)
	_ caddy.Validator       = (*Transport)(nil)
	_ caddyfile.Unmarshaler = (*Transport)(nil)
)

func init() {
	redis.SetLogger(clientLogger{})
}

// clientLogger hands go-redis's own messages (a failed dial, per attempt)
// to Caddy's log at debug level: the transport logs an outage once.
type clientLogger struct{}

func (clientLogger) Printf(_ context.Context, format string, v ...any) {
	if c := caddy.Log().Named("redis.client").Check(zap.DebugLevel, fmt.Sprintf(format, v...)); c != nil {
		c.Write()
	}
}
