module github.com/caddy-sse/caddy-sse

go 1.26

require (
	github.com/caddyserver/caddy/v2 v2.11.9
	go.uber.org/zap v1.28.0
)
