package caddysse

import (
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The module's log lines, through the Caddy logger of each route
// (http.handlers.sse). Hot paths check the level before building fields.
//
// About streams: Caddy's access log sees a stream
// only as one request, and a detached stream only up to its handover, so
// these tell what became of it. None carries event data.
//
//	debug "stream opened"  hub, connection, remote_addr, topics, path
//	debug "stream ended"   the same, and reason, duration, events, bytes
//	warn  "stream dropped" hub, connection, remote_addr, path, reason,
//	                       duration, and for a failed write error and
//	                       timed_out
//
// path is "detached" (written by the hub's writers, detach.go) or
// "goroutine" (written by the request's goroutine, stream.go).
//
// About the hub:
//
//	warn  "serving streams on goroutines instead of the detached writers"
//	                       hub, error; once per hub (detach.go)
//	error "publish not stored"  hub, remote_addr, uri, events, error; once per
//	                       request that the transport failed

// Serving paths of a stream, as logged.
const (
	servedDetached  = "detached"
	servedGoroutine = "goroutine"
)

// streamTotals count what was written to one stream: the hub's events
// (not the connected or reset event, nor heartbeats) and all bytes.
type streamTotals struct {
	Events int
	Bytes  int
}

// logStreamOpened records a stream about to be served on path.
func (h *Handler) logStreamOpened(s *hub.Subscriber, path string) {
	if h.logger == nil {
		return
	}
	if ce := h.logger.Check(zapcore.DebugLevel, "stream opened"); ce != nil {
		ce.Write(h.streamFields(s, path, zap.Strings("topics", s.Topics))...)
	}
}

// streamFields are the fields a line about stream s served on path starts
// with, followed by more.
func (h *Handler) streamFields(s *hub.Subscriber, path string, more ...zap.Field) []zap.Field {
	return append([]zap.Field{
		zap.String("hub", h.Hub),
		zap.String("connection", s.ID),
		zap.String("remote_addr", s.RemoteAddr),
		zap.String("path", path),
	}, more...)
}

// logStreamEnd records the end of a stream served on path, with what was
// written to it and, when a write ended it, that write's error. A stream
// the hub dropped (its queue full) or a write failed on is logged at warn
// as well, for operators who do not log at debug.
func (h *Handler) logStreamEnd(s *hub.Subscriber, path string, sent streamTotals, writeErr error) {
	if h.logger == nil {
		return
	}
	_, reason := s.Closed()
	duration := time.Since(s.ConnectedAt)
	if reason == hub.ReasonQueueFull || reason == hub.ReasonWriteFailed {
		if ce := h.logger.Check(zapcore.WarnLevel, "stream dropped"); ce != nil {
			fields := h.streamFields(s, path, zap.String("reason", string(reason)), zap.Duration("duration", duration))
			if writeErr != nil {
				fields = append(fields, zap.Error(writeErr), zap.Bool("timed_out", writeTimedOut(writeErr)))
			}
			ce.Write(fields...)
		}
	}
	if ce := h.logger.Check(zapcore.DebugLevel, "stream ended"); ce != nil {
		ce.Write(h.streamFields(s, path,
			zap.Strings("topics", s.Topics),
			zap.String("reason", string(reason)),
			zap.Duration("duration", duration),
			zap.Int("events", sent.Events),
			zap.Int("bytes", sent.Bytes),
		)...)
	}
}

// writeTimedOut reports whether a write failed by running into the write
// timeout, on either serving path.
func writeTimedOut(err error) bool {
	return errors.Is(err, errWriteTimeout) || errors.Is(err, os.ErrDeadlineExceeded)
}

// logStoreFailure records a publish request the transport refused to
// store: the client got 503, and the operator should learn why.
func logStoreFailure(logger *zap.Logger, hubName string, r *http.Request, events int, err error) {
	if logger == nil {
		return
	}
	logger.Error("publish not stored",
		zap.String("hub", hubName),
		zap.String("remote_addr", r.RemoteAddr),
		zap.String("uri", r.RequestURI),
		zap.Int("events", events),
		zap.Error(err),
	)
}
