package caddysse

import (
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/detach"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logStreamEnd records the end of a stream served by the hub's writers.
// Caddy's access log saw such a stream only up to its handover, so this is
// where its duration and size are told. One line per stream, at debug level
// like Caddy's other per-request detail; never event data.
func logStreamEnd(logger *zap.Logger, s *hub.Subscriber, sent detach.Totals) {
	if logger == nil {
		return
	}
	ce := logger.Check(zapcore.DebugLevel, "stream ended")
	if ce == nil {
		return
	}
	_, reason := s.Closed()
	ce.Write(
		zap.String("connection", s.ID),
		zap.String("remote_addr", s.RemoteAddr),
		zap.Duration("duration", time.Since(s.ConnectedAt)),
		zap.Int("events", sent.Events),
		zap.Int("bytes", sent.Bytes),
		zap.String("reason", string(reason)),
	)
}
