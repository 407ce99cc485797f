package caddysse

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/caddy-sse/caddy-sse/hub"
)

// benchWriter is a ResponseWriter that keeps only the status and the
// length of the body, so that a benchmark counts the handler's
// allocations rather than a recorder's.
type benchWriter struct {
	header http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.header }
func (w *benchWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

// BenchmarkPublishRequest is one JSON publish through the handler's
// ServeHTTP, as Caddy hands it over: reading the body, decoding, storing,
// the fan-out to the topic's subscribers (drained every 64 publishes, so
// that none falls behind) and the answer.
func BenchmarkPublishRequest(b *testing.B) {
	body0 := []byte(`{"topic":"bench","data":"{\"seq\":1,\"ts\":1}"}`)
	for _, n := range []int{0, 10} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			e := testEntry(b, "bench-publish")
			h := &Handler{Hub: "bench-publish", Publish: true, MaxEventSize: defaultMaxEventSize, hub: e.Hub, entry: e, publishStats: &e.publish}
			subs := make([]*hub.Subscriber, n)
			for i := range subs {
				subs[i] = hubtestJoin(b, e.Hub, "s"+strconv.Itoa(i), 4096, "", "bench").Subscriber
			}
			body := bytes.NewReader(body0)
			r := httptest.NewRequest(http.MethodPost, "/publish", io.NopCloser(body))
			r.Header.Set("Content-Type", "application/json")
			r.ContentLength = body.Size()
			w := &benchWriter{header: make(http.Header)}
			b.ReportAllocs()
			var taken []*hub.Event
			i := 0
			for b.Loop() {
				body.Reset(body0)
				r.Body = io.NopCloser(body)
				clear(w.header)
				w.status = 0
				if err := h.ServeHTTP(w, r, nil); err != nil || w.status != http.StatusOK {
					b.Fatalf("publish answered %d: %v", w.status, err)
				}
				if i++; i%64 == 0 {
					for _, s := range subs {
						taken = s.Take(taken[:0]).Events
					}
				}
			}
		})
	}
}
