package caddysse

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCompressValidate: the compress modes are accepted, anything else is
// refused at validation, for JSON configs as for the Caddyfile.
func TestCompressValidate(t *testing.T) {
	for _, mode := range []string{"", "off", "on", "gzip", "zstd", "auto"} {
		h := Handler{Compress: mode, Buffer: 1, MaxEventSize: 1} // what Provision would set
		if err := h.Validate(); err != nil {
			t.Errorf("compress %q: %v", mode, err)
		}
	}
	for _, mode := range []string{"maybe", "br", "GZIP", "gzip,zstd"} {
		h := Handler{Compress: mode, Buffer: 1, MaxEventSize: 1} // what Provision would set
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "want off, gzip, zstd, auto or on") {
			t.Errorf("compress %q: got %v, want it refused", mode, err)
		}
	}
}

// TestStreamEncodingHeaders: the module's own modes negotiate and set
// Content-Encoding and Vary; off and on leave both to others.
func TestStreamEncodingHeaders(t *testing.T) {
	for _, tc := range []struct {
		mode, accept, encoding, vary string
	}{
		{"", "gzip, zstd", "", ""},
		{"off", "gzip, zstd", "", ""},
		{"on", "gzip, zstd", "", ""},
		{"gzip", "gzip, zstd", "gzip", "Accept-Encoding"},
		{"zstd", "gzip, zstd", "zstd", "Accept-Encoding"},
		{"auto", "gzip, zstd", "zstd", "Accept-Encoding"},
		{"auto", "gzip", "gzip", "Accept-Encoding"},
		{"auto", "", "", "Accept-Encoding"},
	} {
		h := Handler{Compress: tc.mode}
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/events", nil)
		r.Header.Set("Accept-Encoding", tc.accept)
		enc := h.streamEncoding(w, r)
		if got := w.Header().Get("Content-Encoding"); got != tc.encoding || enc.Codec().String() != tc.encoding {
			t.Errorf("compress %q, Accept-Encoding %q: Content-Encoding %q, codec %q; want %q", tc.mode, tc.accept, got, enc.Codec(), tc.encoding)
		}
		if got := w.Header().Get("Vary"); got != tc.vary {
			t.Errorf("compress %q: Vary %q, want %q", tc.mode, got, tc.vary)
		}
	}
}
