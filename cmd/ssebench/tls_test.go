package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// flushWriter is a compressing (or plain) writer that can push out what
// it holds.
type flushWriter interface {
	io.Writer
	Flush() error
}

type plainFlusher struct{ io.Writer }

func (plainFlusher) Flush() error { return nil }

// TestSwarmOverTLS runs subscribers against an HTTPS server speaking
// HTTP/1.1 and HTTP/2 that compresses as asked and keeps each stream open
// after its events: every subscriber must get its own connection, the
// protocol and Content-Encoding it asked for, its connected event (which
// only arrives if the decoder hands on flushed blocks before the stream
// ends) and every event exactly once.
func TestSwarmOverTLS(t *testing.T) {
	const subscribers, events = 3, 5
	tests := []struct {
		proto, compress string
		wantProto       string
		wantEncoding    string
	}{
		{"h1", "", "HTTP/1.1", "identity"},
		{"h1", "gzip", "HTTP/1.1", "gzip"},
		{"h1", "zstd, gzip", "HTTP/1.1", "zstd"},
		{"h2", "", "HTTP/2.0", "identity"},
		{"h2", "gzip", "HTTP/2.0", "gzip"},
		{"h2", "zstd", "HTTP/2.0", "zstd"},
	}
	for _, tc := range tests {
		t.Run(tc.proto+" "+tc.compress, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				var out flushWriter = plainFlusher{w}
				switch ae := r.Header.Get("Accept-Encoding"); {
				case strings.Contains(ae, "zstd"):
					w.Header().Set("Content-Encoding", "zstd")
					zw, _ := zstd.NewWriter(w)
					defer zw.Close()
					out = zw
				case strings.Contains(ae, "gzip"):
					w.Header().Set("Content-Encoding", "gzip")
					zw := gzip.NewWriter(w)
					defer zw.Close()
					out = zw
				}
				send := func(format string, args ...any) {
					fmt.Fprintf(out, format, args...)
					out.Flush()
					w.(http.Flusher).Flush()
				}
				send("event: connected\ndata: {}\n\n")
				for i := 1; i <= events; i++ {
					send("id: %d\ndata: {\"seq\":%d,\"ts\":%d}\n\n", i, i, time.Now().UnixNano())
				}
				<-r.Context().Done()
			}))
			srv.EnableHTTP2 = true
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			}
			srv.StartTLS()
			defer srv.Close()

			cfg, err := parseConfig([]string{"-sub-url", srv.URL + "/events", "-proto", tc.proto,
				"-compress", tc.compress, "-subscribers", fmt.Sprint(subscribers), "-connect-rate", "0",
				"-connect-timeout", "10s"})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tg, err := resolveTarget(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			sw := newSwarm(cfg, tg)
			subCtx, stop := context.WithCancel(ctx)
			if !sw.start(ctx, subCtx) || sw.readyN.Load() != subscribers {
				t.Fatalf("%d of %d subscribers connected", sw.readyN.Load(), subscribers)
			}
			for sw.deliveries() < subscribers*events && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			if !sw.wait(10 * time.Second) {
				t.Fatal("subscribers did not stop")
			}
			res := &result{}
			tally(res, sw, nil)
			if res.Deliveries != subscribers*events || res.Duplicates != 0 {
				t.Errorf("deliveries %d duplicates %d, want %d and 0", res.Deliveries, res.Duplicates, subscribers*events)
			}
			if res.Protocols[tc.wantProto] != subscribers || res.ContentEncodings[tc.wantEncoding] != subscribers {
				t.Errorf("protocols %v encodings %v, want %d of %s and %s", res.Protocols, res.ContentEncodings, subscribers, tc.wantProto, tc.wantEncoding)
			}
			if n := conns.Load(); n != subscribers {
				t.Errorf("%d connections for %d subscribers, want one each", n, subscribers)
			}
		})
	}
}

func TestParseConfigProto(t *testing.T) {
	tests := []struct {
		args []string
		want string // error substring, "" for none
	}{
		{[]string{"-proto", "h2", "-sub-url", "https://127.0.0.1:8443/events"}, ""},
		{[]string{"-sub-url", "https://127.0.0.1:8443/events"}, ""},
		{[]string{"-proto", "h2", "-sub-url", "http://127.0.0.1:8090/events"}, "needs an https://"},
		{[]string{"-proto", "h4"}, `-proto "h4": want h1, h2 or h3`},
		{[]string{"-proto", "h3", "-sub-url", "http://127.0.0.1:8090/events"}, "needs an https://"},
	}
	for _, tc := range tests {
		_, err := parseConfig(tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
