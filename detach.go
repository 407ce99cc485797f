package caddysse

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/detach"
)

// A plain HTTP/1.1 stream is detached from its request once its opening is
// flushed: the connection is hijacked, the serving goroutine returns, and
// the hub's writer pool (internal/detach) writes its events from then on.
// HTTP/2, HTTP/3, TLS and encoded streams keep their goroutine (stream.go).

// rawConnKey is the context key under which the connection a request came
// on is stored, by the ConnContext hook registered in Provision.
type rawConnKey struct{}

// storeRawConn is the server's ConnContext hook.
func storeRawConn(ctx context.Context, c net.Conn) context.Context {
	if ctx.Value(rawConnKey{}) != nil {
		return ctx
	}
	return context.WithValue(ctx, rawConnKey{}, c)
}

// detach hijacks an eligible stream and hands it to the hub's writer pool,
// with leave to run when it ends. It reports false, having changed nothing,
// when the stream must stay on its goroutine.
func (h *Handler) detach(w http.ResponseWriter, r *http.Request, sub *hub.Subscriber, leave func()) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.TLS != nil || w.Header().Get("Content-Encoding") != "" {
		return false
	}
	conn, _ := r.Context().Value(rawConnKey{}).(net.Conn)
	if conn == nil {
		return false
	}
	pool, err := h.entry.detachedWriters()
	if err != nil {
		return false
	}
	if _, _, err := http.NewResponseController(w).Hijack(); err != nil {
		return false
	}
	// Deadlines net/http set for the request would fail later writes;
	// the pool bounds each write itself.
	_ = conn.SetDeadline(time.Time{})
	logger := h.logger
	err = pool.Serve(sub, detach.Stream{
		Conn:         conn,
		WriteTimeout: time.Duration(*h.WriteTimeout),
		Ended: func(sent detach.Totals) {
			leave()
			logStreamEnd(logger, sub, sent)
		},
	})
	if err != nil {
		conn.Close()
		leave()
	}
	return true
}
