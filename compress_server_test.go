package caddysse

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/klauspost/compress/zstd"

	"github.com/caddy-sse/caddy-sse/internal/caddytest"
)

// decodedBody is the response's body decoded by its Content-Encoding, as
// a client that asked for the encoding itself must decode it.
func decodedBody(resp *http.Response) (io.Reader, error) {
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "":
		return resp.Body, nil
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		zr.Multistream(false)
		return zr, nil
	case "zstd":
		zr, err := zstd.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	default:
		return nil, fmt.Errorf("unknown Content-Encoding %q", enc)
	}
}

// compressSite serves streams that end after about two seconds, so the
// end of each encoded stream is checked too. Caddy's encode sits in front
// and must stay out.
const compressSite = `
	encode zstd gzip
	sse /events {
		%s
		max_duration 2s
	}
	sse /publish {
		publish
	}
`

// TestServerCompress: with the module's own compression a stream is
// encoded as negotiated from Accept-Encoding, delivers every event as it
// is published, and ends as a valid encoded body, on both serving paths.
func TestServerCompress(t *testing.T) {
	chromium := "gzip, deflate, br, zstd"
	tests := []struct {
		mode, accept, want string
	}{
		{"compress gzip", "gzip", "gzip"},
		{"compress gzip", chromium, "gzip"},
		{"compress gzip", "zstd", ""},
		{"compress zstd", chromium, "zstd"},
		{"compress zstd", "gzip", ""},
		{"compress auto", chromium, "zstd"},
		{"compress auto", "gzip, zstd;q=0.5", "gzip"},
		{"compress auto", "identity", ""},
	}
	forEachPath(t, func(t *testing.T, path string) {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%s", tc.mode, tc.accept), func(t *testing.T) {
				s := startServerFor(t, path, fmt.Sprintf(compressSite, tc.mode))
				st := s.subscribe("/events?topic=c", "Accept-Encoding", tc.accept)
				hdr := st.resp.Header
				if got := hdr.Get("Content-Encoding"); got != tc.want {
					t.Fatalf("Content-Encoding %q, want %q", got, tc.want)
				}
				if got := hdr.Get("Cache-Control"); got != "no-cache, no-transform" {
					t.Errorf("Cache-Control %q, want no-cache, no-transform", got)
				}
				if got := hdr.Values("Vary"); !strings.Contains(strings.Join(got, ","), "Accept-Encoding") {
					t.Errorf("Vary %q, want Accept-Encoding", got)
				}
				if ev := st.nextEvent(); ev.Name != "connected" {
					t.Fatalf("first event %+v, want connected", ev)
				}
				for _, data := range []string{"one", strings.Repeat("two ", 100), "three\nlines\nhere"} {
					id := s.mustPublish("/publish", fmt.Sprintf(`{"topic":"c","data":%q}`, data))
					if ev := st.nextEvent(); ev.ID != id || ev.Data != data {
						t.Fatalf("got %+v, want id %s with %q", ev, id, data)
					}
				}
				if rest := st.ended(5 * time.Second); len(rest) != 0 {
					t.Errorf("after the events: %+v", rest)
				}
				if st.err != nil {
					t.Errorf("the %q body did not end cleanly: %v", tc.want, st.err)
				}
			})
		}
	})
}

// TestServerCompressStaysDetached: a plain HTTP/1.1 stream the module
// compresses is still handed to the hub's writers.
func TestServerCompressStaysDetached(t *testing.T) {
	s := startServer(t, `
	sse /events {
		compress auto
	}
`)
	st := s.subscribe("/events?topic=c", "Accept-Encoding", "gzip")
	st.nextEvent()
	// The stream is handed over just after its opening is flushed.
	var page subscriberPage
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, _, out := s.adminDo(http.MethodGet, "/sse/hubs/default/subscribers", "", "")
		remarshal(t, out, &page)
		if len(page.Subscribers) == 1 && page.Subscribers[0].Path == "detached" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribers: %+v; want the one stream detached", page.Subscribers)
		}
	}
}

// TestServerCompressCurl: curl --compressed receives a compressed stream's
// events live, on both paths (h2c with --http2-prior-knowledge).
func TestServerCompressCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required under CI")
		}
		t.Skip("no curl")
	}
	forEachPath(t, func(t *testing.T, path string) {
		for _, mode := range []string{"gzip", "zstd"} {
			t.Run(mode, func(t *testing.T) {
				s := startServerFor(t, path, fmt.Sprintf(compressSite, "compress "+mode))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				args := []string{"-sSN", "--compressed", "-D", "/dev/stderr"}
				if path == pathGoroutine {
					args = append(args, "--http2-prior-knowledge")
				}
				cmd := exec.CommandContext(ctx, curl, append(args, s.url("/events?topic=c"))...)
				var stderr caddytest.Buffer
				cmd.Stderr = &stderr
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = cmd.Wait() }()
				lines := make(chan string, 64)
				go func() {
					defer close(lines)
					sc := bufio.NewScanner(stdout)
					for sc.Scan() {
						lines <- sc.Text()
					}
				}()
				waitLine := func(want string) {
					t.Helper()
					timeout := time.After(10 * time.Second)
					for {
						select {
						case l, ok := <-lines:
							if !ok {
								t.Fatalf("curl's output ended before %q:\n%s", want, stderr.String())
							}
							if l == want {
								return
							}
						case <-timeout:
							t.Fatalf("no %q from curl within 10s:\n%s", want, stderr.String())
						}
					}
				}
				waitLine("event: connected")
				for _, data := range []string{"first", "second"} {
					s.mustPublish("/publish", fmt.Sprintf(`{"topic":"c","data":%q}`, data))
					waitLine("data: " + data)
				}
				for range lines { // the stream ends at max_duration
				}
				if err := cmd.Wait(); err != nil {
					t.Errorf("curl: %v\n%s", err, stderr.String())
				}
				if h := strings.ToLower(stderr.String()); !strings.Contains(h, "content-encoding: "+mode) {
					t.Errorf("curl got no %s stream:\n%s", mode, stderr.String())
				}
			})
		}
	})
}

// compressPage is a page whose EventSource collects the data it receives.
const compressPage = `<!doctype html><title>compressed</title><p id="ready">ready</p>
<script>window.got = []; const es = new EventSource("/events?topic=c");
es.addEventListener("connected", () => got.push("connected")); es.onmessage = e => got.push(e.data);</script>`

// TestServerCompressBrowser: Chromium's EventSource, which accepts gzip
// and zstd, receives compressed streams' events live. Chromium speaks
// HTTP/1.1 to a plain http:// site, so its streams are detached ones.
func TestServerCompressBrowser(t *testing.T) {
	requireChromium(t)
	for _, mode := range []string{"gzip", "zstd", "auto"} {
		t.Run(mode, func(t *testing.T) {
			s := startServer(t, `
	header /page Content-Type "text/html; charset=utf-8"
	respond /page `+"`"+compressPage+"`"+`
	sse /events {
		compress `+mode+`
	}
	sse /publish {
		publish
	}
`)
			b := startBrowser(t, s)
			encodings := make(chan string, 4)
			chromedp.ListenTarget(b.root, func(ev any) {
				if r, ok := ev.(*network.EventResponseReceived); ok && strings.Contains(r.Response.URL, "/events") {
					enc, _ := r.Response.Headers["content-encoding"].(string)
					if enc == "" {
						enc, _ = r.Response.Headers["Content-Encoding"].(string)
					}
					encodings <- enc
				}
			})
			tb := b.open("/page", "#ready")
			want := mode
			if mode == "auto" {
				want = "zstd"
			}
			select {
			case enc := <-encodings:
				if enc != want {
					t.Fatalf("the stream came with Content-Encoding %q, want %q", enc, want)
				}
			case <-time.After(browserStep):
				t.Fatal("the browser reported no response for the stream")
			}
			tb.waitFor("the connected event to open the stream", `window.got.length === 1`)
			for i, data := range []string{"alpha", strings.Repeat("beta ", 200)} {
				s.mustPublish("/publish", fmt.Sprintf(`{"topic":"c","data":%q}`, data))
				tb.waitFor(fmt.Sprintf("event %d", i+1), fmt.Sprintf(`window.got.length === %d && window.got[%d] === %q`, i+2, i+1, data))
			}
		})
	}
}
