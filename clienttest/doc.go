// Package clienttest runs real Server-Sent Events clients against the
// Caddy of ../cmd/caddy: Chromium's EventSource, the npm packages
// eventsource and @microsoft/fetch-event-source under Node, and the Go
// packages github.com/tmaxmax/go-sse and github.com/r3labs/sse/v2.
//
// It is a module of its own so that users of caddy-sse never download these
// clients. Run it from the repository root with
//
//	go test -C clienttest ./...
//
// The npm clients are installed into clienttest/node/node_modules with
// npm ci when missing. Outside CI a missing Node or Chromium skips that
// client; with CI=true it fails instead.
package clienttest
