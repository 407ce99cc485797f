package redis

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the transport from its Caddyfile form; the
// dispenser stands on the transport's name. Values are judged by
// Provision and Validate, so JSON configs get the same errors.
//
//	transport redis <url> {
//	    stream      <key>
//	    maxlen      <entries>
//	    password    <password>
//	    addresses   <host:port>...
//	    master_name <name>
//	    cluster
//	}
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the transport's name
	if d.NextArg() {
		t.URL = d.Val()
	}
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
		args := d.RemainingArgs()
		switch name {
		case "stream":
			if len(args) != 1 {
				return d.ArgErr()
			}
			t.Stream = args[0]
		case "password":
			if len(args) != 1 {
				return d.ArgErr()
			}
			t.Password = args[0]
		case "master_name":
			if len(args) != 1 {
				return d.ArgErr()
			}
			t.MasterName = args[0]
		case "maxlen":
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return d.Errf("maxlen %q: want a number of entries", args[0])
			}
			t.MaxLen = n
		case "addresses":
			if len(args) == 0 {
				return d.ArgErr()
			}
			t.Addresses = args
		case "cluster":
			if len(args) != 0 {
				return d.ArgErr()
			}
			t.Cluster = true
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
	}
	return nil
}
