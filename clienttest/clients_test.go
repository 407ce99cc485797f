package clienttest

// Each client under test is adapted to one shape: a conn delivers what the
// application sees (connections opening, events, errors) as observations.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	r3sse "github.com/r3labs/sse/v2"
	gosse "github.com/tmaxmax/go-sse"
	"gopkg.in/cenkalti/backoff.v1"
)

// observation is one thing the application saw.
type observation struct {
	Type string    // "open", "event" or "error"
	Name string    // the event type; "message" when the stream named none
	Data string    // the event's data, or the error's message
	ID   string    // the client's last event id after the event
	At   time.Time // when the client reported it
}

// conn is one client's subscription. stop ends it; it runs at most once.
type conn struct {
	obs      chan observation
	stop     func()
	stopOnce sync.Once
}

func (c *conn) close() { c.stopOnce.Do(c.stop) }

func newConn() *conn { return &conn{obs: make(chan observation, 1024)} }

func (c *conn) report(o observation) {
	if o.At.IsZero() {
		o.At = time.Now()
	}
	select {
	case c.obs <- o:
	default: // a test that stopped reading; it fails on what it has
	}
}

// limitations are a client's own deviations from the EventSource
// specification that the suite met. Each is listed in the README's client
// table; the sub-check it defeats is skipped with this reason, and the
// hub's side of it is asserted instead.
type limitations struct {
	// endBlock: the client dispatches an unterminated block at the end of
	// the stream as an event (the specification discards it). The hub ends
	// a stream it closes for a reload with a retry: line and no blank line,
	// which such a client turns into an event without data.
	endBlock string
	// leadingEmptyLine: the client drops an empty first data line.
	leadingEmptyLine string
	// noReconnect: the client does not reconnect after the server ends the
	// stream cleanly.
	noReconnect string
	// retry: the client's wait for the server's retry: interval cannot be
	// checked after a stream that max_duration ended.
	retry string
}

// client is one implementation under test.
type client struct {
	name string
	// open subscribes to url (a path with query) on s, listening for the
	// named events besides "message".
	open   func(t *testing.T, s *server, url string, names []string) *conn
	limits limitations
}

// needTool returns the path of a tool the client needs, skipping the test
// when it is missing, except under CI=true, where that fails.
func needTool(t *testing.T, name string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is needed (tried %s) and CI=true, so the test does not skip", name, strings.Join(candidates, ", "))
	}
	t.Skipf("skipping: %s not found (tried %s); with CI=true this fails instead", name, strings.Join(candidates, ", "))
	return ""
}

// npmOnce installs the pinned npm clients into node/node_modules once.
var (
	npmOnce sync.Once
	npmErr  error
)

func npmInstall(t *testing.T) {
	t.Helper()
	npm := needTool(t, "npm", "npm")
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join("node", "node_modules", "eventsource", "package.json")); err == nil {
			if _, err := os.Stat(filepath.Join("node", "node_modules", "@microsoft", "fetch-event-source", "package.json")); err == nil {
				return
			}
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = "node"
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = err
			t.Logf("npm ci:\n%s", out)
		}
	})
	if npmErr != nil {
		t.Fatalf("installing the npm clients (npm ci in clienttest/node): %v", npmErr)
	}
}

// nodeClient runs node/client.mjs with one of the npm clients.
func nodeClient(kind string) func(t *testing.T, s *server, url string, names []string) *conn {
	return func(t *testing.T, s *server, url string, names []string) *conn {
		t.Helper()
		node := needTool(t, "Node.js", "node")
		npmInstall(t)
		c := newConn()
		cmd := exec.Command(node, "client.mjs", kind, s.url(url), strings.Join(names, ","))
		cmd.Dir = "node"
		stderr := new(syncBuffer)
		cmd.Stderr = stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var o struct {
					Type, Name, Data, ID, Message string
					At                            int64
				}
				if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
					c.report(observation{Type: "error", Data: "unreadable report: " + sc.Text()})
					continue
				}
				if o.Type == "error" {
					o.Data = o.Message
				}
				c.report(observation{Type: o.Type, Name: o.Name, Data: o.Data, ID: o.ID, At: time.UnixMilli(o.At)})
			}
		}()
		c.stop = func() {
			_ = cmd.Process.Kill()
			<-done
			_ = cmd.Wait()
			if msg := stderr.String(); msg != "" {
				t.Logf("%s stderr:\n%s", kind, msg)
			}
		}
		t.Cleanup(c.close)
		return c
	}
}

// goSSEClient subscribes with github.com/tmaxmax/go-sse.
func goSSEClient(t *testing.T, s *server, url string, _ []string) *conn {
	t.Helper()
	c := newConn()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url(url), nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := &gosse.Client{
		HTTPClient: &http.Client{},
		ResponseValidator: func(r *http.Response) error {
			if err := gosse.DefaultValidator(r); err != nil {
				return err
			}
			c.report(observation{Type: "open"})
			return nil
		},
		OnRetry: func(err error, _ time.Duration) { c.report(observation{Type: "error", Data: err.Error()}) },
	}
	sc := cl.NewConnection(req)
	sc.SubscribeToAll(func(e gosse.Event) {
		name := e.Type
		if name == "" {
			name = "message"
		}
		c.report(observation{Type: "event", Name: name, Data: e.Data, ID: e.LastEventID})
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := sc.Connect()
		if ctx.Err() == nil {
			// Connect gave up: v0.11.0 does so after a stream that ends at
			// an event boundary.
			c.report(observation{Type: "error", Data: fmt.Sprintf("Connect returned: %v", err)})
		}
	}()
	c.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(c.close)
	return c
}

// r3labsClient subscribes with github.com/r3labs/sse/v2. lastEventID, when
// set, is sent as Last-Event-ID on the first request.
func r3labsClient(lastEventID string) func(t *testing.T, s *server, url string, names []string) *conn {
	return func(t *testing.T, s *server, url string, _ []string) *conn {
		t.Helper()
		c := newConn()
		cl := r3sse.NewClient(s.url(url))
		if lastEventID != "" {
			cl.LastEventID.Store([]byte(lastEventID))
		}
		cl.OnConnect(func(*r3sse.Client) { c.report(observation{Type: "open"}) })
		cl.OnDisconnect(func(*r3sse.Client) { c.report(observation{Type: "error", Data: "disconnected"}) })
		ctx, cancel := context.WithCancel(context.Background())
		// Without the context in its backoff, r3labs retries a cancelled
		// subscription for its backoff's 15 minutes.
		cl.ReconnectStrategy = backoff.WithContext(backoff.NewExponentialBackOff(), ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			err := cl.SubscribeRawWithContext(ctx, func(e *r3sse.Event) {
				name := string(e.Event)
				if name == "" {
					name = "message"
				}
				c.report(observation{Type: "event", Name: name, Data: string(e.Data), ID: string(e.ID)})
			})
			if err != nil && ctx.Err() == nil {
				c.report(observation{Type: "error", Data: err.Error()})
			}
			c.report(observation{Type: "error", Data: "subscription ended"})
		}()
		c.stop = func() {
			cancel()
			<-done
		}
		t.Cleanup(c.close)
		return c
	}
}

// The Chromium the browser clients run in: Debian's package.
const chromiumPath = "/usr/bin/chromium"

// chromiumClient subscribes with the EventSource of a headless Chromium, in
// a fresh profile, from a page of the same origin.
func chromiumClient(t *testing.T, s *server, url string, names []string) *conn {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		needTool(t, "Chromium", chromiumPath)
	}
	// A fresh profile, removed once the browser is gone; not t.TempDir,
	// whose removal fails while Chromium's last processes still write.
	profile, err := os.MkdirTemp("", "clienttest-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	stopAll := func() {
		cancelTab()
		cancelAlloc()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	listen, _ := json.Marshal(names)
	start := `(() => {
		window.__obs = [];
		const report = o => window.__obs.push({...o, at: Date.now()});
		const es = new EventSource(` + jsString(url) + `);
		es.onopen = () => report({type: 'open'});
		es.onerror = () => report({type: 'error', message: 'readyState ' + es.readyState});
		const deliver = e => report({type: 'event', name: e.type, data: e.data, id: e.lastEventId});
		es.onmessage = deliver;
		for (const n of ` + string(listen) + `) es.addEventListener(n, deliver);
		return true;
	})()`
	// The first Run starts the browser, which lives as long as the context
	// of that Run: ctx itself, not one with a timeout.
	if err := chromedp.Run(ctx); err != nil {
		stopAll()
		t.Fatalf("starting Chromium: %v", err)
	}
	var ok bool
	runCtx, cancelRun := context.WithTimeout(ctx, 60*time.Second)
	err = chromedp.Run(runCtx, chromedp.Navigate(s.url("/ready")), chromedp.Evaluate(start, &ok))
	cancelRun()
	if err != nil {
		stopAll()
		t.Fatalf("starting EventSource in Chromium: %v", err)
	}
	c := newConn()
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(25 * time.Millisecond):
			}
			var batch []struct {
				Type, Name, Data, ID, Message string
				At                            float64
			}
			pollCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := chromedp.Run(pollCtx, chromedp.Evaluate(`window.__obs.splice(0)`, &batch))
			cancel()
			if err != nil {
				c.report(observation{Type: "error", Data: "reading the page: " + err.Error()})
				return
			}
			for _, o := range batch {
				if o.Type == "error" {
					o.Data = o.Message
				}
				c.report(observation{Type: o.Type, Name: o.Name, Data: o.Data, ID: o.ID, At: time.UnixMilli(int64(o.At))})
			}
		}
	}()
	c.stop = func() {
		close(quit)
		<-done
		stopAll()
	}
	t.Cleanup(c.close)
	return c
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
