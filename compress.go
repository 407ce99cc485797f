package caddysse

import (
	"net/http"

	"github.com/caddy-sse/caddy-sse/internal/sseenc"
)

// The compress modes the module serves itself: every event is compressed
// once and its bytes shared by every stream (internal/sseenc).
var compressOffers = map[string][]sseenc.Codec{
	"gzip": {sseenc.Gzip},
	"zstd": {sseenc.Zstd},
	"auto": {sseenc.Zstd, sseenc.Gzip},
}

// streamEncoding negotiates the content encoding of a stream under the
// route's compress mode and sets its headers. With compress on or off the
// stream is sent as it is (and on leaves it to Caddy's encode).
func (h *Handler) streamEncoding(w http.ResponseWriter, r *http.Request) sseenc.Stream {
	offer, ok := compressOffers[h.Compress]
	if !ok {
		return sseenc.Stream{}
	}
	hdr := w.Header()
	hdr.Add("Vary", "Accept-Encoding")
	c := sseenc.Negotiate(r.Header.Get("Accept-Encoding"), offer...)
	if c != sseenc.Identity {
		hdr.Set("Content-Encoding", c.String())
	}
	return sseenc.NewStream(c)
}
