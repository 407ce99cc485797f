// Command caddy is Caddy with its standard modules and the sse module, so the
// hub can be run from a checkout without xcaddy:
//
//	go run ./cmd/caddy run --config example.Caddyfile
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy-sse/caddy-sse"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
