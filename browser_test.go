package caddysse

// TestServerBrowserDemo drives the demo page, examples/index.html, in a real
// headless Chromium against the real Caddy of cmd/caddy: the browser's own
// EventSource subscribes, the page's form publishes, and a config reload
// ends the stream so that the browser must come back by itself and resume
// with Last-Event-ID. What the page shows is checked through its DOM, and
// what the browser received is checked again through the DevTools network
// events, so a duplicate or a gap is caught even if the page hid it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is the browser the test runs (Debian's `chromium` package).
const chromiumPath = "/usr/bin/chromium"

// browserStep bounds every single wait of the browser test: starting the
// browser, each DevTools action, and each condition waited for on the page.
const browserStep = 20 * time.Second

func TestServerBrowserDemo(t *testing.T) {
	requireChromium(t)
	root := examplesRoot(t, "index.html")
	site := demoSite(root)
	s := startServer(t, site)
	p := openDemoPage(t, s)

	// The page as served, before anything is clicked.
	p.run("load the demo page",
		chromedp.Navigate(s.url("/")),
		chromedp.WaitVisible("#connect", chromedp.ByQuery),
	)
	p.recordStates()
	snap := p.snapshot()
	if snap.Title != "SSE hub demo" || snap.State != "disconnected" || snap.Connections != "0" || len(snap.Rows) != 0 {
		p.fatalf("the page did not start idle: title %q, state %q, connections %q, %d rows", snap.Title, snap.State, snap.Connections, len(snap.Rows))
	}

	// Subscribe with the page's own button (topic "demo" is prefilled).
	p.run("click Connect", chromedp.Click("#connect", chromedp.ByQuery))
	snap = p.waitUntil("the stream to open and show a connection id", func(s pageSnapshot) bool {
		return s.State == "open" && s.StateText == "open" && s.hasConnectionID() && s.count("connected") == 1
	})
	firstConn := snap.ConnectionID
	if snap.Connections != "1" || snap.Topics != "demo" {
		p.fatalf("after connecting: connections %q, topics %q; want 1 and demo", snap.Connections, snap.Topics)
	}
	var hello struct {
		Connection string   `json:"connection"`
		Topics     []string `json:"topics"`
	}
	if err := json.Unmarshal([]byte(snap.rowsOf("connected")[0].Data), &hello); err != nil || hello.Connection != firstConn || !slices.Equal(hello.Topics, []string{"demo"}) {
		p.fatalf("the connected row says %q (%v); want connection %q and topics [demo]", snap.rowsOf("connected")[0].Data, err, firstConn)
	}

	// Publish with the page's form; the row must carry the id the form
	// reports.
	var published []publishedEvent
	const formData = "hello from the browser form"
	var typed string
	p.run("fill and submit the publish form",
		chromedp.Clear("#pub-data", chromedp.ByQuery),
		chromedp.SendKeys("#pub-data", formData, chromedp.ByQuery),
		chromedp.Value("#pub-data", &typed, chromedp.ByQuery),
		chromedp.Click("#publish", chromedp.ByQuery),
	)
	if typed != formData {
		p.fatalf("typed %q into #pub-data, it holds %q", formData, typed)
	}
	snap = p.waitUntil("the publish form to report its result", func(s pageSnapshot) bool {
		return s.PubResultClass == "ok" || s.PubResultClass == "err"
	})
	m := pubResultRE.FindStringSubmatch(snap.PubResult)
	if snap.PubResultClass != "ok" || m == nil {
		p.fatalf("the publish form reported %q (class %q); want %q", snap.PubResult, snap.PubResultClass, "Published id <id> to 1 subscriber.")
	}
	if m[2] != "1" {
		p.fatalf("the form's publish reached %s subscribers, want 1 (the page itself): %q", m[2], snap.PubResult)
	}
	published = append(published, publishedEvent{id: m[1], event: "chat", data: formData})
	p.waitForEvents("the form's event", published)
	if snap := p.snapshot(); snap.LastID != m[1] {
		p.fatalf("#last-id is %q after the form's event %q", snap.LastID, m[1])
	}

	// Publish from Go, as an application on this machine would.
	goEvent := p.publish("chat", "hello from Go")
	if goEvent.subscribers != 1 {
		p.fatalf("the Go publish reached %d subscribers, want 1", goEvent.subscribers)
	}
	published = append(published, goEvent)
	p.waitForEvents("the Go event", published)

	// The README's own example event shows (its name is listed by
	// default), and so does one whose name is added to the field while
	// connected.
	order := p.publish("order-created", `{"order":42}`)
	order.data = "{\n  \"order\": 42\n}" // the page pretty-prints JSON data
	published = append(published, order)
	p.waitForEvents("the README's order-created event", published)
	var names string
	p.run("add an event name while connected",
		chromedp.SetValue("#names", "message, chat, notice, order-created, invoice-paid", chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('names').dispatchEvent(new Event('change')), true`, nil),
		chromedp.Value("#names", &names, chromedp.ByQuery),
	)
	if !strings.HasSuffix(names, "invoice-paid") {
		p.fatalf("#names holds %q", names)
	}
	published = append(published, p.publish("invoice-paid", "an event name the page did not know"))
	p.waitForEvents("the event of the added name", published)

	// Reload the same config: the old config's streams end with a short
	// retry hint and the browser has to come back on its own. Three events
	// are published at once, while it is away, and must be replayed.
	before := p.snapshot()
	p.forceReload(site)
	// The old config's server closed its idle keep-alive connections; a
	// publish must not pick one of them from the pool (it would fail with
	// EOF), so the next ones dial afresh and reach the new config.
	http.DefaultClient.CloseIdleConnections()
	var gap []publishedEvent
	for i := 1; i <= 3; i++ {
		gap = append(gap, p.publish("chat", fmt.Sprintf("published during the reconnect %d", i)))
	}
	during := p.snapshot()
	t.Logf("right after the reload and the three publishes: page state %q, connections %q, subscribers reached %d/%d/%d",
		during.State, during.Connections, gap[0].subscribers, gap[1].subscribers, gap[2].subscribers)
	if during.Connections != before.Connections {
		p.fatalf("the page had already reconnected (connections %s -> %s) before the three events were published, so they did not test the gap", before.Connections, during.Connections)
	}
	published = append(published, gap...)
	p.waitUntil("the page to reconnect by itself", func(s pageSnapshot) bool {
		return s.State == "open" && s.connections() > before.connections() &&
			s.hasConnectionID() && s.ConnectionID != firstConn
	})
	p.waitForEvents("the events published during the reconnect", published)

	// And the new stream is live: an event published now arrives once.
	after := p.publish("chat", "published after the reconnect")
	if after.subscribers != 1 {
		p.fatalf("the publish after the reconnect reached %d subscribers, want 1", after.subscribers)
	}
	published = append(published, after)
	p.waitForEvents("the event published after the reconnect", published)

	// Stay a little longer than a heartbeat, so that a late duplicate or a
	// stream that does not survive its heartbeats would show.
	p.run("idle past a heartbeat", chromedp.Sleep(1500*time.Millisecond))
	final := p.snapshot()
	p.checkFinal(final, before, published)
}

// requireChromium skips a browser test when Chromium is missing, except
// under CI, where it fails instead.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the browser test needs Chromium at %s, and CI is set, so it does not skip: %v", chromiumPath, err)
		}
		t.Skipf("skipping the browser test: no Chromium at %s (install it with `apt-get install -y chromium`; with CI set this test fails instead)", chromiumPath)
	}
}

// examplesRoot is the absolute path of examples/, checked to hold page.
func examplesRoot(t *testing.T, page string) string {
	t.Helper()
	root, err := filepath.Abs("examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, page)); err != nil {
		t.Fatalf("the demo page is missing: %v", err)
	}
	return root
}

// chromiumProfile is a fresh profile directory, removed when the test ends.
// Call it before starting the browser, so that the removal comes after the
// browser's end: Chromium's helper processes may still write to the profile
// for a moment after the browser process has exited, which makes a plain
// t.TempDir fail its cleanup ("directory not empty"); it is retried.
func chromiumProfile(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "caddy-sse-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Logf("removing the Chromium profile: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// chromiumOptions start a headless Chromium with a fresh profile, as the
// browser tests run it.
func chromiumOptions(profile string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
		chromedp.WSURLReadTimeout(browserStep),
	}
}

// TestServerBrowserDemoAnyName: with "show events of every name" ticked,
// the demo page reads the stream with fetch and shows events of names it
// was never told, and unnamed ones; across a reload it comes back by itself
// after the server's retry delay, sends Last-Event-ID, and shows each event
// once.
func TestServerBrowserDemoAnyName(t *testing.T) {
	requireChromium(t)
	site := demoSite(examplesRoot(t, "index.html"))
	s := startServer(t, site)
	p := openDemoPage(t, s)
	p.run("load the demo page",
		chromedp.Navigate(s.url("/")),
		chromedp.WaitVisible("#connect", chromedp.ByQuery),
	)
	p.recordStates()
	p.run("tick the box and connect",
		chromedp.Click("#any-name", chromedp.ByQuery),
		chromedp.Click("#connect", chromedp.ByQuery),
	)
	snap := p.waitUntil("the stream to open and show a connection id", func(s pageSnapshot) bool {
		return s.State == "open" && s.hasConnectionID() && s.count("connected") == 1
	})
	firstConn := snap.ConnectionID

	var published []publishedEvent
	order := p.publish("order-created", `{"order":42}`)
	order.data = "{\n  \"order\": 42\n}" // the page pretty-prints JSON data
	published = append(published, order, p.publish("never-listed", "a name no field lists"))
	unnamed := p.publish("", "an event without a name")
	unnamed.event = "message"
	published = append(published, unnamed)
	p.waitForEvents("events of any name", published)

	before := p.snapshot()
	p.forceReload(site)
	http.DefaultClient.CloseIdleConnections()
	for i := 1; i <= 2; i++ {
		published = append(published, p.publish("gap-"+strconv.Itoa(i), "published during the reconnect"))
	}
	p.waitUntil("the page to reconnect by itself", func(s pageSnapshot) bool {
		return s.State == "open" && s.connections() == before.connections()+1 && s.ConnectionID != firstConn
	})
	published = append(published, p.publish("after", "published after the reconnect"))
	p.waitForEvents("the events published during and after the reconnect", published)

	final := p.snapshot()
	var gotIDs, wantIDs []string
	for _, e := range published {
		wantIDs = append(wantIDs, e.id)
	}
	for _, r := range final.Rows {
		if r.Event == "reset" {
			p.fatalf("the page shows a reset: %q", r.Data)
		}
		if r.Event != "connected" {
			gotIDs = append(gotIDs, r.ID)
		}
	}
	if !slices.Equal(gotIDs, wantIDs) {
		p.fatalf("the page's event rows, oldest first, are %v; want exactly %v", gotIDs, wantIDs)
	}
	if states := final.States; slices.Contains(states, "closed") || !slices.Contains(states, "reconnecting") {
		p.fatalf("#state went through %v; want reconnecting, never closed", states)
	}
	p.mu.Lock()
	fetches := slices.Clone(p.fetches)
	var first, wire string
	if len(fetches) == 2 {
		first, wire = p.wire[fetches[0].id], p.wire[fetches[1].id]
	}
	p.mu.Unlock()
	if len(fetches) != 2 {
		p.fatalf("the page fetched /events %d times, want 2 (subscribe and one resume)", len(fetches))
	}
	if first != "" {
		p.fatalf("the first subscription sent Last-Event-ID %q", first)
	}
	if last := published[2].id; wire != last {
		p.fatalf("the resume sent Last-Event-ID %q, want the last id before the reload, %q", wire, last)
	}
	if _, _, problems := p.observed(); slices.ContainsFunc(problems, func(m string) bool { return strings.HasPrefix(m, "uncaught exception") }) {
		p.fatalf("the page threw: %v", problems)
	}
}

// demoSite is the site of example.Caddyfile with the demo page served from
// root, a short retry, a 1s heartbeat and stats events every second.
func demoSite(root string) string {
	return `root * ` + strconv.Quote(root) + `
sse /events {
	history 1000 1h
	heartbeat 1s
	retry 500ms
	stats_topic hub/stats 1s
}
@publish {
	path /publish
	client_ip 127.0.0.0/8 ::1
}
sse @publish {
	publish
}
@refused {
	path /publish
	not client_ip 127.0.0.0/8 ::1
}
header @refused Content-Type application/json
respond @refused ` + "`" + `{"error":"publishing is allowed from this machine only"}` + "`" + ` 403
file_server`
}

// pubResultRE matches the form's report of a successful publish.
var pubResultRE = regexp.MustCompile(`^Published id (\S+) to (\d+) subscribers?\.$`)

// demoPage is the demo page open in a headless Chromium, with what the
// browser reported about it.
type demoPage struct {
	t   *testing.T
	s   *testServer
	ctx context.Context // the tab; each step runs under a bounded child

	mu       sync.Mutex
	debug    bytes.Buffer // chromedp's own log
	problems []string     // exceptions, console errors, failed loads
	streams  []esRequest  // EventSource requests, in order
	fetches  []esRequest  // the page's fetch requests of /events, in order
	// wire holds the Last-Event-ID header each request really sent (from
	// the network stack's extra info; "" when it sent none).
	wire     map[network.RequestID]string
	messages []esMessage // EventSource messages, in order of arrival
}

// esRequest is one request of the page's EventSource.
type esRequest struct {
	id  network.RequestID
	url string
	// lastEventID is the Last-Event-ID header on the wire, filled in by
	// observed; sent says whether the wire headers were seen at all.
	lastEventID string
	sent        bool
}

// esMessage is one message the browser's EventSource received.
type esMessage struct {
	request   network.RequestID
	event, id string
	data      string
}

// publishedEvent is an event the test published and expects on the page.
type publishedEvent struct {
	id, event, data string
	subscribers     int
}

// openDemoPage starts Chromium with a fresh profile and opens a tab.
func openDemoPage(t *testing.T, s *testServer) *demoPage {
	t.Helper()
	p := &demoPage{t: t, s: s}
	profile := chromiumProfile(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumOptions(profile)...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(p.logf), chromedp.WithErrorf(p.logf))
	// Closing the tab's context ends the browser; cancelAlloc waits for the
	// process, so the profile directory is free before TempDir removes it.
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	chromedp.ListenTarget(ctx, p.observe)
	p.ctx = ctx

	// The first Run starts the browser, which lives as long as ctx: it is
	// bounded by a timer rather than by a deadline on ctx.
	timer := time.AfterFunc(browserStep, cancelTab)
	err := chromedp.Run(ctx)
	if !timer.Stop() {
		t.Fatalf("Chromium did not start within %s: %v\n%s", browserStep, err, p.debugLog())
	}
	if err != nil {
		t.Fatalf("starting Chromium: %v\n%s", err, p.debugLog())
	}
	return p
}

func (p *demoPage) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(&p.debug, format+"\n", args...)
}

func (p *demoPage) debugLog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.debug.String()
}

// observe records what the browser reports about the page. It runs on
// chromedp's event goroutine and must not block.
func (p *demoPage) observe(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeEventSource && ev.Request != nil {
			p.streams = append(p.streams, esRequest{id: ev.RequestID, url: ev.Request.URL})
		}
		if ev.Type == network.ResourceTypeFetch && ev.Request != nil && strings.Contains(ev.Request.URL, "/events?") {
			p.fetches = append(p.fetches, esRequest{id: ev.RequestID, url: ev.Request.URL})
		}
	case *network.EventRequestWillBeSentExtraInfo:
		// Any request's: it may come before the requestWillBeSent it
		// belongs to.
		if p.wire == nil {
			p.wire = make(map[network.RequestID]string)
		}
		p.wire[ev.RequestID] = ""
		for k, v := range ev.Headers {
			if strings.EqualFold(k, "Last-Event-ID") {
				p.wire[ev.RequestID] = fmt.Sprint(v)
			}
		}
	case *network.EventEventSourceMessageReceived:
		p.messages = append(p.messages, esMessage{request: ev.RequestID, event: ev.EventName, id: ev.EventID, data: ev.Data})
	case *network.EventLoadingFailed:
		p.problems = append(p.problems, fmt.Sprintf("loading failed (%s, canceled %v): %s", ev.Type, ev.Canceled, ev.ErrorText))
	case *cdpruntime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		p.problems = append(p.problems, "uncaught exception: "+msg)
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type == cdpruntime.APITypeError || ev.Type == cdpruntime.APITypeWarning {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			p.problems = append(p.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e != nil && (e.Level == cdplog.LevelError || e.Level == cdplog.LevelWarning) {
			p.problems = append(p.problems, fmt.Sprintf("browser log %s (%s): %s %s", e.Level, e.Source, e.Text, e.URL))
		}
	}
}

// observed returns copies of what observe recorded.
func (p *demoPage) observed() (streams []esRequest, messages []esMessage, problems []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	streams = slices.Clone(p.streams)
	for i := range streams {
		streams[i].lastEventID, streams[i].sent = p.wire[streams[i].id]
	}
	return streams, slices.Clone(p.messages), slices.Clone(p.problems)
}

// run runs DevTools actions on the tab, bounded by browserStep.
func (p *demoPage) run(what string, actions ...chromedp.Action) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStep)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		p.fatalf("%s: %v", what, err)
	}
}

// recordStates makes the page keep every value #state takes, so that the
// test can tell that the page went through "reconnecting" by itself.
func (p *demoPage) recordStates() {
	p.t.Helper()
	p.run("watch #state", chromedp.Evaluate(`(() => {
		const el = document.getElementById('state');
		const seen = window.__sseStates = [el.dataset.state];
		new MutationObserver(() => {
			const s = el.dataset.state;
			if (seen[seen.length - 1] !== s) seen.push(s);
		}).observe(el, {attributes: true, attributeFilter: ['data-state']});
		return true;
	})()`, nil))
}

// pageSnapshot is what the page shows.
type pageSnapshot struct {
	Title          string   `json:"title"`
	State          string   `json:"state"`
	StateText      string   `json:"stateText"`
	ConnectionID   string   `json:"connectionId"`
	Connections    string   `json:"connections"`
	Topics         string   `json:"topics"`
	LastID         string   `json:"lastId"`
	PubResult      string   `json:"pubResult"`
	PubResultClass string   `json:"pubResultClass"`
	LogCount       string   `json:"logCount"`
	States         []string `json:"states"`
	// Rows are the rows of #log, oldest first (the page shows newest first).
	Rows []pageRow `json:"rows"`
}

type pageRow struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Class string `json:"class"`
	Data  string `json:"data"`
}

const snapshotJS = `(() => {
	const $ = id => document.getElementById(id);
	return {
		title: document.title,
		state: $('state').dataset.state || '',
		stateText: $('state').textContent,
		connectionId: $('connection-id').textContent,
		connections: $('connections').textContent,
		topics: $('topics').textContent,
		lastId: $('last-id').textContent,
		pubResult: $('pub-result').textContent,
		pubResultClass: $('pub-result').className,
		logCount: $('log-count').textContent,
		states: window.__sseStates || [],
		rows: Array.from(document.querySelectorAll('#log li.event')).reverse().map(li => ({
			id: li.dataset.id || '',
			event: li.dataset.event || '',
			class: li.className,
			data: (li.querySelector('pre') || {}).textContent || '',
		})),
	};
})()`

// trySnapshot reads the page, bounded by browserStep.
func (p *demoPage) trySnapshot() (pageSnapshot, error) {
	ctx, cancel := context.WithTimeout(p.ctx, browserStep)
	defer cancel()
	var snap pageSnapshot
	err := chromedp.Run(ctx, chromedp.Evaluate(snapshotJS, &snap))
	return snap, err
}

func (p *demoPage) snapshot() pageSnapshot {
	p.t.Helper()
	snap, err := p.trySnapshot()
	if err != nil {
		p.fatalf("reading the page: %v", err)
	}
	return snap
}

// waitUntil polls the page until cond holds, for at most browserStep.
func (p *demoPage) waitUntil(what string, cond func(pageSnapshot) bool) pageSnapshot {
	p.t.Helper()
	deadline := time.Now().Add(browserStep)
	for {
		snap := p.snapshot()
		if cond(snap) {
			return snap
		}
		if time.Now().After(deadline) {
			p.fatalf("timed out after %s waiting for %s", browserStep, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitForEvents waits until every published event has its row, then checks
// that each has exactly one, with the right name and data.
func (p *demoPage) waitForEvents(what string, want []publishedEvent) {
	p.t.Helper()
	snap := p.waitUntil(what, func(s pageSnapshot) bool {
		for _, e := range want {
			if len(s.rowsWithID(e.id)) == 0 {
				return false
			}
		}
		return true
	})
	for _, e := range want {
		rows := snap.rowsWithID(e.id)
		if len(rows) != 1 {
			p.fatalf("event %s (%q) has %d rows, want exactly 1", e.id, e.data, len(rows))
		}
		if rows[0].Event != e.event || rows[0].Data != e.data {
			p.fatalf("event %s shows as %q %q, want %q %q", e.id, rows[0].Event, rows[0].Data, e.event, e.data)
		}
	}
}

// publish publishes on topic demo from Go.
func (p *demoPage) publish(event, data string) publishedEvent {
	p.t.Helper()
	body, _ := json.Marshal(map[string]string{"topic": "demo", "event": event, "data": data})
	var ack publishResult
	status, err := postRetry(p.s.url("/publish"), body, &ack)
	if err != nil || status != http.StatusOK || ack.ID == "" {
		p.fatalf("publish %s: status %d, %+v: %v", body, status, ack, err)
	}
	return publishedEvent{id: ack.ID, event: event, data: data, subscribers: ack.Subscribers}
}

// postRetry POSTs a JSON publish and decodes the answer into out. As the
// README asks of publishers, a POST that fails before any answer (EOF or a
// reset: during a reload the old config's server may close the connection
// it was sent on without reading it) is sent once more, on a new
// connection. Had the first one been stored after all, the test would see
// an extra event.
func postRetry(url string, body []byte, out any) (int, error) {
	var resp *http.Response
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		resp, err = http.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			break
		}
		http.DefaultClient.CloseIdleConnections()
	}
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

// forceReload loads the site again through the admin API with
// Cache-Control: must-revalidate. Without it Caddy skips a /load whose
// config equals the running one ("config is unchanged"), so s.reload with
// the same site is not a reliable reload: in this harness the first such
// load happens to restart the config, a second one does nothing. This one
// always restarts it, which ends the old config's streams.
func (p *demoPage) forceReload(site string) {
	p.t.Helper()
	cfg, err := os.ReadFile(p.s.writeConfig(site))
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserStep)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.s.admin+"/load", bytes.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.fatalf("reload: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		p.fatalf("reload: %s: %s", resp.Status, msg)
	}
}

// checkFinal checks the page and the browser's EventSource traffic after
// the reconnect: every event exactly once, in order, nothing else, and a
// resume that carried the last id seen.
func (p *demoPage) checkFinal(snap, before pageSnapshot, published []publishedEvent) {
	p.t.Helper()
	t := p.t
	if snap.State != "open" || snap.connections() != before.connections()+1 {
		p.fatalf("after idling: state %q, connections %q; want open and exactly one reconnect from %s", snap.State, snap.Connections, before.Connections)
	}

	// The page: one row per event, in publish order; a connected row per
	// connection; no reset (the hub and its history outlive the reload).
	var wantIDs, gotIDs []string
	for _, e := range published {
		wantIDs = append(wantIDs, e.id)
	}
	for _, r := range snap.Rows {
		switch r.Event {
		case "connected":
		case "reset":
			p.fatalf("the page shows a reset (the resume was incomplete): %q", r.Data)
		default:
			gotIDs = append(gotIDs, r.ID)
		}
	}
	if !slices.Equal(gotIDs, wantIDs) {
		p.fatalf("the page's event rows, oldest first, are %v; want exactly %v", gotIDs, wantIDs)
	}
	if n := snap.count("connected"); n != snap.connections() {
		p.fatalf("%d connected rows for %d connections", n, snap.connections())
	}
	if want := fmt.Sprintf("(%d)", len(snap.Rows)); snap.LogCount != want {
		p.fatalf("#log-count says %s for %d rows", snap.LogCount, len(snap.Rows))
	}
	if last := wantIDs[len(wantIDs)-1]; snap.LastID != last {
		p.fatalf("#last-id is %q, want the last event's %q", snap.LastID, last)
	}

	// The page went open -> reconnecting -> open by itself, never closed.
	states := snap.States
	i := slices.Index(states, "open")
	if i < 0 || slices.Contains(states, "closed") || !slices.Contains(states[i:], "reconnecting") || states[len(states)-1] != "open" {
		p.fatalf("#state went through %v; want open, then reconnecting, then open again, and never closed", states)
	}

	// The browser's EventSource: two requests (subscribe, then resume with
	// the last id it had), each published id received once, and a
	// connected message per request.
	streams, messages, problems := p.observed()
	if len(streams) != 2 {
		p.fatalf("the EventSource made %d requests, want 2 (subscribe and one resume): %+v", len(streams), streams)
	}
	for _, r := range streams {
		if !r.sent {
			p.fatalf("DevTools never reported the headers request %s sent", r.id)
		}
	}
	if streams[0].lastEventID != "" {
		p.fatalf("the first subscription sent Last-Event-ID %q", streams[0].lastEventID)
	}
	lastSeen := ""
	for _, m := range messages {
		if m.request == streams[0].id && m.id != "" {
			lastSeen = m.id
		}
	}
	if lastSeen == "" || streams[1].lastEventID != lastSeen {
		p.fatalf("the resume sent Last-Event-ID %q; the last id received before it was %q", streams[1].lastEventID, lastSeen)
	}
	received := map[string]int{}
	connected := map[network.RequestID]int{}
	for _, m := range messages {
		switch {
		case m.event == "connected":
			connected[m.request]++
		case m.id != "":
			received[m.id]++
		}
	}
	for _, e := range published {
		if received[e.id] != 1 {
			p.fatalf("the browser received event %s (%q) %d times, want once", e.id, e.data, received[e.id])
		}
	}
	if len(received) != len(published) {
		p.fatalf("the browser received %d distinct ids, %d were published", len(received), len(published))
	}
	for _, r := range streams {
		if connected[r.id] != 1 {
			p.fatalf("request %s carried %d connected events, want 1", r.url, connected[r.id])
		}
	}
	for _, msg := range problems {
		if strings.HasPrefix(msg, "uncaught exception") {
			p.fatalf("the page threw: %s", msg)
		}
	}
	if len(problems) > 0 {
		t.Logf("the browser reported (not failures):\n  %s", strings.Join(problems, "\n  "))
	}
	t.Logf("states %v; resume Last-Event-ID %s; %d rows", states, streams[1].lastEventID, len(snap.Rows))
}

// fatalf fails the test with the page, the browser's traffic and the
// server's log attached.
func (p *demoPage) fatalf(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), p.dump())
}

// dump describes the page and the traffic for a failure message.
func (p *demoPage) dump() string {
	var b strings.Builder
	if snap, err := p.trySnapshot(); err != nil {
		fmt.Fprintf(&b, "--- page: unreadable: %v\n", err)
	} else {
		fmt.Fprintf(&b, "--- page: state %q (%q), states %v, connection %q, connections %s, topics %q, last id %q, publish result %q (%s), log count %s\n",
			snap.State, snap.StateText, snap.States, snap.ConnectionID, snap.Connections, snap.Topics, snap.LastID, snap.PubResult, snap.PubResultClass, snap.LogCount)
		for _, r := range snap.Rows {
			fmt.Fprintf(&b, "    row id=%q event=%q class=%q data=%q\n", r.ID, r.Event, r.Class, r.Data)
		}
	}
	streams, messages, problems := p.observed()
	b.WriteString("--- EventSource requests:\n")
	for _, r := range streams {
		fmt.Fprintf(&b, "    %s %s Last-Event-ID=%q (headers seen: %v)\n", r.id, r.url, r.lastEventID, r.sent)
	}
	b.WriteString("--- EventSource messages:\n")
	for _, m := range messages {
		fmt.Fprintf(&b, "    [%s] event=%q id=%q data=%q\n", m.request, m.event, m.id, m.data)
	}
	fmt.Fprintf(&b, "--- browser problems:\n    %s\n", strings.Join(problems, "\n    "))
	fmt.Fprintf(&b, "--- chromedp:\n%s", p.debugLog())
	fmt.Fprintf(&b, "--- caddy:\n%s", p.s.logs)
	return b.String()
}

func (s pageSnapshot) hasConnectionID() bool {
	return s.ConnectionID != "" && s.ConnectionID != "—"
}

func (s pageSnapshot) connections() int {
	n, _ := strconv.Atoi(s.Connections)
	return n
}

func (s pageSnapshot) rowsOf(event string) []pageRow {
	var rows []pageRow
	for _, r := range s.Rows {
		if r.Event == event {
			rows = append(rows, r)
		}
	}
	return rows
}

func (s pageSnapshot) count(event string) int { return len(s.rowsOf(event)) }

func (s pageSnapshot) rowsWithID(id string) []pageRow {
	var rows []pageRow
	for _, r := range s.Rows {
		if r.ID == id {
			rows = append(rows, r)
		}
	}
	return rows
}
