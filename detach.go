package caddysse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/detach"
	"github.com/caddy-sse/caddy-sse/internal/sseenc"
	"go.uber.org/zap"
)

// An HTTP/1.1 stream, plain or over TLS, is detached from its request once
// its opening is flushed: the connection is hijacked, the serving goroutine
// returns, and the hub's writer pool (internal/detach) writes its events
// from then on. HTTP/2, HTTP/3 and streams Caddy's encode compresses keep
// their goroutine (stream.go); the module's own compression travels with
// enc.

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
// with leave to run when it ends; opening is what was written to it so
// far. It reports false, having changed nothing, when the stream must stay
// on its goroutine.
func (h *Handler) detach(w http.ResponseWriter, r *http.Request, sub *hub.Subscriber, enc sseenc.Stream, leave func(), opening streamTotals) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || w.Header().Get("Content-Encoding") != enc.Codec().String() {
		return false
	}
	conn, _ := r.Context().Value(rawConnKey{}).(net.Conn)
	if conn == nil {
		return false
	}
	if !detach.Detachable(conn) {
		// A listener wrapper's connection: the pool cannot watch it.
		h.warnFallback(fmt.Errorf("the connection (%T) gives no access to its socket", conn))
		return false
	}
	pool, err := h.entry.detachedWriters()
	if err != nil {
		if !errors.Is(err, hub.ErrHubClosed) {
			h.warnFallback(fmt.Errorf("starting the writer pool: %w", err))
		}
		return false
	}
	if _, _, err := http.NewResponseController(w).Hijack(); err != nil {
		return false
	}
	// Deadlines net/http set for the request would fail later writes;
	// the pool bounds each write itself.
	_ = conn.SetDeadline(time.Time{})
	h.logStreamOpened(sub, servedDetached)
	var writeErr error // set by Failed, read by Ended on the same goroutine
	err = pool.Serve(sub, detach.Stream{
		Conn:         conn,
		WriteTimeout: time.Duration(*h.WriteTimeout),
		Encoding:     enc,
		Failed:       func(err error) { writeErr = err },
		Ended: func(sent detach.Totals) {
			leave()
			h.logStreamEnd(sub, servedDetached, streamTotals{
				Events: opening.Events + sent.Events,
				Bytes:  opening.Bytes + sent.Bytes,
			}, writeErr)
		},
	})
	if err != nil {
		// Hijacked already: the stream cannot go back to its goroutine.
		sub.Close(hub.ReasonWriteFailed)
		conn.Close()
		leave()
		h.logStreamEnd(sub, servedDetached, opening, fmt.Errorf("handing the stream to the writer pool: %w", err))
	}
	return true
}

// warnFallback logs, once per hub, that streams which could be detached
// are served by goroutines instead, and why.
func (h *Handler) warnFallback(why error) {
	if h.logger == nil {
		return
	}
	h.entry.fallbackOnce.Do(func() {
		h.logger.Warn("serving streams on goroutines instead of the detached writers",
			zap.String("hub", h.Hub), zap.Error(why))
	})
}
