package caddysse

import (
	"math"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("sse", parseCaddyfile)
	// After authentication and encode, so streams are compressed and only
	// authorised clients reach the hub; users need no global `order`.
	httpcaddyfile.RegisterDirectiveOrder("sse", httpcaddyfile.Before, "respond")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	if err := handler.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return handler, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	sse [<matcher>] {
//	    hub             <name>
//	    topic           <template>...
//	    publish
//	    history         <events> [<max age>]
//	    heartbeat       <duration> [event]
//	    max_duration    <duration>
//	    retry           <duration>
//	    connected_event on|off
//	    buffer          <events>
//	    write_timeout   <duration>
//	    max_subscribers <n> [per_ip <n>]
//	    max_event_size  <size>
//	    cors            <origin>... [credentials]
//	    query_topics    <selector>...
//	    publish_origins <origin>...
//	    transport       memory | bolt <path> [{ ... }] | <module> ...
//	    idempotency     <duration>
//	    stats_topic     <topic> [<interval>]
//	    compress        off|gzip|zstd|auto|on
//	    jwt {
//	        alg      <alg>
//	        key      <secret> | key_file <path>
//	        issuer   <iss>
//	        audience <aud>
//	        leeway   <duration>
//	        cookie   <name>
//	        query    <name>
//	        public   <selector>...
//	    }
//	}
//
// Every subdirective, and every option of the jwt block, may appear once.
// The parser judges only syntax (argument counts, names, numbers, units):
// values are judged in Provision and Validate, so that a JSON config gets
// the same errors.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate subdirective %q", name)
		}
		seen[name] = true
		if name == "transport" {
			if err := h.parseTransport(d); err != nil {
				return err
			}
			continue
		}
		args := d.RemainingArgs()
		var err error
		switch name {
		case "hub":
			err = oneArg(d, args, func(v string) error { h.Hub = v; return nil })
		case "topic":
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Topics = args
		case "publish":
			if len(args) != 0 {
				return d.ArgErr()
			}
			h.Publish = true
		case "history":
			err = h.parseHistory(d, args)
		case "heartbeat":
			err = h.parseHeartbeat(d, args)
		case "max_duration":
			err = oneArg(d, args, durationInto(d, name, &h.MaxDuration))
		case "retry":
			err = oneArg(d, args, durationInto(d, name, &h.Retry))
		case "write_timeout":
			err = oneArg(d, args, func(v string) error {
				var dur caddy.Duration
				if err := durationInto(d, name, &dur)(v); err != nil {
					return err
				}
				h.WriteTimeout = &dur
				return nil
			})
		case "connected_event":
			err = oneArg(d, args, func(v string) error {
				switch v {
				case "on", "off":
					h.ConnectedEvent = new(v == "on")
					return nil
				}
				return d.Errf("connected_event %q: want on or off", v)
			})
		case "buffer":
			err = oneArg(d, args, countInto(d, "buffer", &h.Buffer))
		case "max_subscribers":
			err = h.parseMaxSubscribers(d, args)
		case "max_event_size":
			err = oneArg(d, args, func(v string) error {
				n, err := humanize.ParseBytes(v)
				if err != nil || n > math.MaxInt {
					return d.Errf("max_event_size %q: want a size such as 64KiB", v)
				}
				h.MaxEventSize = int(n)
				return nil
			})
		case "cors":
			err = h.parseCORS(d, args)
		case "query_topics":
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.QueryTopics = args
		case "publish_origins":
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.PublishOrigins = args
		case "idempotency":
			err = oneArg(d, args, func(v string) error {
				var dur caddy.Duration
				if err := durationInto(d, name, &dur)(v); err != nil {
					return err
				}
				h.Idempotency = &dur
				return nil
			})
		case "stats_topic":
			err = h.parseStatsTopic(d, args)
		case "compress":
			err = oneArg(d, args, func(v string) error { h.Compress = v; return nil })
		case "jwt":
			if len(args) != 0 {
				return d.ArgErr()
			}
			err = h.parseJWT(d)
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) parseHistory(d *caddyfile.Dispenser, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return d.Errf("history %q: want a number of events", args[0])
	}
	h.History = &n
	if len(args) == 2 {
		return durationInto(d, "history max age", &h.HistoryMaxAge)(args[1])
	}
	return nil
}

func (h *Handler) parseHeartbeat(d *caddyfile.Dispenser, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return d.ArgErr()
	}
	var hb caddy.Duration
	if err := durationInto(d, "heartbeat", &hb)(args[0]); err != nil {
		return err
	}
	h.Heartbeat = &hb
	if len(args) == 2 {
		if args[1] != "event" {
			return d.Errf("heartbeat: unexpected %q; the only option is event", args[1])
		}
		h.HeartbeatEvent = true
	}
	return nil
}

func (h *Handler) parseStatsTopic(d *caddyfile.Dispenser, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return d.ArgErr()
	}
	h.StatsTopic = args[0]
	if len(args) == 2 {
		return durationInto(d, "stats_topic interval", &h.StatsInterval)(args[1])
	}
	return nil
}

func (h *Handler) parseMaxSubscribers(d *caddyfile.Dispenser, args []string) error {
	if len(args) != 1 && len(args) != 3 {
		return d.ArgErr()
	}
	if err := countInto(d, "max_subscribers", &h.MaxSubscribers)(args[0]); err != nil {
		return err
	}
	if len(args) == 3 {
		if args[1] != "per_ip" {
			return d.Errf("max_subscribers: unexpected %q; want per_ip <n>", args[1])
		}
		return countInto(d, "per_ip", &h.MaxSubscribersPerIP)(args[2])
	}
	return nil
}

func (h *Handler) parseCORS(d *caddyfile.Dispenser, args []string) error {
	cors := new(CORS)
	for _, a := range args {
		if a == "credentials" {
			cors.Credentials = true
			continue
		}
		cors.Origins = append(cors.Origins, a)
	}
	if len(cors.Origins) == 0 {
		return d.Err("cors: at least one origin is required, or * for any")
	}
	h.CORS = cors
	return nil
}

// parseJWT reads the jwt block. Values are judged when the config is
// provisioned, so JSON configs get the same errors.
func (h *Handler) parseJWT(d *caddyfile.Dispenser) error {
	j := new(JWT)
	seen := make(map[string]bool)
	for d.NextBlock(1) {
		name := d.Val()
		if seen[name] {
			return d.Errf("jwt: duplicate option %q", name)
		}
		seen[name] = true
		args := d.RemainingArgs()
		var err error
		switch name {
		case "alg":
			err = oneArg(d, args, func(v string) error { j.Alg = v; return nil })
		case "key":
			err = oneArg(d, args, func(v string) error { j.Key = v; return nil })
		case "key_file":
			err = oneArg(d, args, func(v string) error { j.KeyFile = v; return nil })
		case "issuer":
			err = oneArg(d, args, func(v string) error { j.Issuer = v; return nil })
		case "audience":
			err = oneArg(d, args, func(v string) error { j.Audience = v; return nil })
		case "leeway":
			err = oneArg(d, args, durationInto(d, "jwt leeway", &j.Leeway))
		case "cookie":
			err = oneArg(d, args, func(v string) error { j.Cookie = v; return nil })
		case "query":
			err = oneArg(d, args, func(v string) error { j.Query = v; return nil })
		case "public":
			if len(args) == 0 {
				return d.ArgErr()
			}
			j.Public = args
		default:
			return d.Errf("jwt: unrecognized option %q", name)
		}
		if err != nil {
			return err
		}
	}
	h.JWT = j
	return nil
}

// parseTransport reads `transport <name> [<args>] [{ ... }]` into the
// config of the transport module of that name, which parses the rest.
func (h *Handler) parseTransport(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	if _, err := caddy.GetModule(transportNamespace + "." + name); err != nil {
		return d.Errf("transport %q: no such transport in this build of Caddy (it has: %s)", name, strings.Join(transportNames(), ", "))
	}
	unm, err := caddyfile.UnmarshalModule(d, transportNamespace+"."+name)
	if err != nil {
		return err
	}
	h.TransportRaw = caddyconfig.JSONModuleObject(unm, "name", name, nil)
	return nil
}

// oneArg applies set to the only argument.
func oneArg(d *caddyfile.Dispenser, args []string, set func(string) error) error {
	if len(args) != 1 {
		return d.ArgErr()
	}
	return set(args[0])
}

func durationInto(d *caddyfile.Dispenser, what string, dst *caddy.Duration) func(string) error {
	return func(v string) error {
		dur, err := caddy.ParseDuration(v)
		if err != nil {
			return d.Errf("%s %q: want a duration such as 30s", what, v)
		}
		*dst = caddy.Duration(dur)
		return nil
	}
}

func countInto(d *caddyfile.Dispenser, what string, dst *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return d.Errf("%s %q: want a whole number", what, v)
		}
		*dst = n
		return nil
	}
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
