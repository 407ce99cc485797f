package caddysse

// The use-case demos of examples/ (notifications, ticker, job progress,
// dashboard, chat), each driven in headless Chromium against the real
// Caddy with example.Caddyfile's site: publishes come from the page's own
// controls and from Go, and each test checks what a user sees and, through
// the DevTools network events, that the page's EventSource received every
// event once.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium whose tabs the tests open.
type browser struct {
	t    *testing.T
	s    *testServer
	root context.Context // the first tab, which keeps the browser alive
	// opened says whether the first tab has been given a page.
	opened bool
}

func startBrowser(t *testing.T, s *testServer) *browser {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumOptions(chromiumProfile(t))...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
	})
	timer := time.AfterFunc(browserStep, cancelRoot)
	err := chromedp.Run(root)
	if !timer.Stop() || err != nil {
		t.Fatalf("starting Chromium (within %s): %v", browserStep, err)
	}
	return &browser{t: t, s: s, root: root}
}

// tab is one page open in the browser, with what the browser reported.
type tab struct {
	t   *testing.T
	b   *browser
	ctx context.Context

	mu       sync.Mutex
	problems []string
	messages []esMessage // its EventSource messages, in order of arrival
}

// open opens path of the test site in a tab of its own (the browser's
// first tab for the first page) and waits for sel.
func (b *browser) open(path, sel string) *tab {
	b.t.Helper()
	ctx := b.root
	if b.opened {
		var cancel context.CancelFunc
		ctx, cancel = chromedp.NewContext(b.root)
		b.t.Cleanup(cancel)
		// The first Run creates the tab, which lives as long as the context
		// of that Run: ctx itself, bounded by a timer, not a child of it.
		timer := time.AfterFunc(browserStep, cancel)
		err := chromedp.Run(ctx)
		if !timer.Stop() || err != nil {
			b.t.Fatalf("opening a tab (within %s): %v", browserStep, err)
		}
	}
	b.opened = true
	tb := &tab{t: b.t, b: b, ctx: ctx}
	chromedp.ListenTarget(ctx, tb.observe)
	tb.run("open "+path, chromedp.Navigate(b.s.url(path)), chromedp.WaitVisible(sel, chromedp.ByQuery))
	return tb
}

func (tb *tab) observe(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventEventSourceMessageReceived:
		tb.messages = append(tb.messages, esMessage{request: ev.RequestID, event: ev.EventName, id: ev.EventID, data: ev.Data})
	case *cdpruntime.EventExceptionThrown:
		msg := ev.ExceptionDetails.Text
		if ex := ev.ExceptionDetails.Exception; ex != nil {
			msg += " " + ex.Description
		}
		tb.problems = append(tb.problems, msg)
	}
}

// run runs DevTools actions on the tab, bounded by browserStep.
func (tb *tab) run(what string, actions ...chromedp.Action) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		tb.fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression on the page into out.
func (tb *tab) eval(js string, out any) {
	tb.t.Helper()
	tb.run("evaluate "+js, chromedp.Evaluate(js, out))
}

// text is the text of the element sel.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	var s string
	tb.eval(`document.querySelector(`+strconv.Quote(sel)+`).textContent`, &s)
	return s
}

// texts are the texts of the elements matching sel, in document order.
func (tb *tab) texts(sel string) []string {
	tb.t.Helper()
	var s []string
	tb.eval(`Array.from(document.querySelectorAll(`+strconv.Quote(sel)+`), e => e.textContent)`, &s)
	return s
}

// waitFor polls the page until the JavaScript condition holds.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(browserStep)
	for {
		var ok bool
		tb.eval(`!!(`+cond+`)`, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.fatalf("timed out after %s waiting for %s (%s)", browserStep, what, cond)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// settle waits until the JavaScript expression, which describes the page's
// state as a string, reads the same five times in a row over a second, and
// returns that state: what is still in flight when a feed stops has landed.
func (tb *tab) settle(what, js string) string {
	tb.t.Helper()
	deadline := time.Now().Add(browserStep)
	var last string
	same := 0
	for same < 5 {
		var now string
		tb.eval(js, &now)
		if now == last {
			same++
		} else {
			last, same = now, 1
		}
		if time.Now().After(deadline) {
			tb.fatalf("%s did not settle within %s: last %q", what, browserStep, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

// waitText waits until the element sel shows want.
func (tb *tab) waitText(sel, want string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("%s to show %q", sel, want),
		`(document.querySelector(`+strconv.Quote(sel)+`) || {}).textContent === `+strconv.Quote(want))
}

// click clicks the element sel.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.run("click "+sel, chromedp.Click(sel, chromedp.ByQuery))
}

// fill replaces the value of the input sel.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.run("fill "+sel, chromedp.SetValue(sel, value, chromedp.ByQuery))
}

// received counts, per event id, the events of the given names the tab's
// EventSource received.
func (tb *tab) received(names ...string) map[string]int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := make(map[string]int)
	for _, m := range tb.messages {
		if m.id != "" && slices.Contains(names, m.event) {
			n[m.id]++
		}
	}
	return n
}

// checkOnce fails unless the tab's EventSource received each of the ids
// exactly once and no other event of those names.
func (tb *tab) checkOnce(ids []string, names ...string) {
	tb.t.Helper()
	got := tb.received(names...)
	for _, id := range ids {
		if got[id] != 1 {
			tb.fatalf("the page's EventSource received event %s %d times, want once", id, got[id])
		}
	}
	if len(got) != len(ids) {
		tb.fatalf("the page's EventSource received %d distinct %v events, want %d: %v", len(got), names, len(ids), got)
	}
	tb.checkNoExceptions()
}

func (tb *tab) checkNoExceptions() {
	tb.t.Helper()
	tb.mu.Lock()
	problems := slices.Clone(tb.problems)
	tb.mu.Unlock()
	if len(problems) > 0 {
		tb.fatalf("the page threw: %s", strings.Join(problems, "; "))
	}
}

// fatalf fails the test with the page's text and the server's log.
func (tb *tab) fatalf(format string, args ...any) {
	tb.t.Helper()
	var body string
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body.innerText`, &body))
	tb.mu.Lock()
	var msgs bytes.Buffer
	for _, m := range tb.messages {
		fmt.Fprintf(&msgs, "    event=%q id=%q data=%q\n", m.event, m.id, m.data)
	}
	tb.mu.Unlock()
	tb.t.Fatalf("%s\n--- page text:\n%s\n--- EventSource messages:\n%s--- caddy:\n%s", fmt.Sprintf(format, args...), body, msgs.String(), tb.b.s.logs)
}

// publishTo publishes one event from Go, as an application would, and
// returns its id and how many subscribers it reached.
func publishTo(t *testing.T, s *testServer, topic, event string, data any) (string, int) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"topic": topic, "event": event, "data": data})
	if err != nil {
		t.Fatal(err)
	}
	status, out := s.publish("/publish", string(body))
	id, _ := out["id"].(string)
	n, _ := out["subscribers"].(float64)
	if status != http.StatusOK || id == "" {
		t.Fatalf("publish %s: status %d: %v", body, status, out)
	}
	return id, int(n)
}

// startDemo serves example.Caddyfile's site and opens page in a browser.
func startDemo(t *testing.T, page, ready string) (*testServer, *browser, *tab) {
	t.Helper()
	requireChromium(t)
	s := startServer(t, demoSite(examplesRoot(t, page)))
	b := startBrowser(t, s)
	return s, b, b.open("/"+page, ready)
}

func TestServerBrowserNotifications(t *testing.T) {
	s, _, tb := startDemo(t, "notifications.html", "#connect")
	tb.fill("#user", "bob")
	tb.click("#connect")
	tb.waitText("#state", "open")
	tb.waitText("#who", "bob")

	var ids []string
	for _, text := range []string{"Your order has shipped", "Your invoice is ready"} {
		id, n := publishTo(t, s, "user/bob", "notification", map[string]string{"text": text})
		if n != 1 {
			tb.fatalf("a notification for bob reached %d subscribers, want 1 (his page)", n)
		}
		ids = append(ids, id)
	}
	// Someone else's notification never shows in bob's inbox.
	if _, n := publishTo(t, s, "user/alice", "notification", map[string]string{"text": "for alice only"}); n != 0 {
		tb.fatalf("a notification for alice reached %d subscribers, want 0", n)
	}
	tb.waitText("#unread", "2")
	if got := tb.texts("#feed li .text"); !slices.Equal(got, []string{"Your invoice is ready", "Your order has shipped"}) {
		tb.fatalf("the inbox shows %q, want the two notifications newest first", got)
	}

	// The page's own form sends one to bob: it arrives like the others.
	tb.fill("#to", "bob")
	tb.fill("#text", "sent from the page")
	tb.click("#send-btn")
	tb.waitText("#unread", "3")
	if got := tb.texts("#feed li .text"); len(got) != 3 || got[0] != "sent from the page" {
		tb.fatalf("after sending from the page the inbox shows %q", got)
	}

	tb.click("#mark-read")
	tb.waitText("#unread", "0")
	var unreadRows int
	tb.eval(`document.querySelectorAll('#feed li.unread').length`, &unreadRows)
	if unreadRows != 0 {
		tb.fatalf("%d notifications still look unread after marking all read", unreadRows)
	}

	id, _ := publishTo(t, s, "user/bob", "notification", map[string]string{"text": "one more"})
	ids = append(ids, id)
	tb.waitText("#unread", "1")
	if got := tb.texts("#feed li .text"); !slices.Equal(got, []string{"one more", "sent from the page", "Your invoice is ready", "Your order has shipped"}) {
		tb.fatalf("the inbox shows %q", got)
	}
	var pageID string
	tb.eval(`document.querySelectorAll('#feed li')[1].dataset.id`, &pageID)
	tb.checkOnce(append(ids, pageID), "notification")
}

func TestServerBrowserTicker(t *testing.T) {
	s, _, tb := startDemo(t, "ticker.html", "#start")
	tb.waitText("#state", "open")

	// Bursts from Go: 40 quotes per symbol, 200 in all, in batches of 50.
	symbols := []string{"ACME", "GLOBX", "INITECH", "UMBRL", "HOOLI"}
	const rounds = 40
	var batch []map[string]any
	var ids []string
	for r := range rounds {
		for i, sym := range symbols {
			price := float64(100*(i+1)) + float64(r)/4
			batch = append(batch, map[string]any{"topic": "ticker/" + sym, "event": "quote", "data": map[string]any{"symbol": sym, "price": price}})
			if len(batch) == 50 {
				ids = append(ids, publishBatch(t, s, batch)...)
				batch = nil
			}
		}
	}
	tb.waitText("#received", strconv.Itoa(rounds*len(symbols)))
	for i, sym := range symbols {
		row := `#quotes tr[data-symbol="` + sym + `"] `
		last := float64(100*(i+1)) + float64(rounds-1)/4
		if got, want := tb.text(row+".price"), strconv.FormatFloat(last, 'f', 2, 64); got != want {
			tb.fatalf("%s shows price %s, want the last one sent, %s", sym, got, want)
		}
		if got, want := tb.text(row+".change"), "+"+strconv.FormatFloat(float64(rounds-1)/4, 'f', 2, 64); got != want {
			tb.fatalf("%s shows change %s, want %s", sym, got, want)
		}
		if got := tb.text(row + ".updates"); got != strconv.Itoa(rounds) {
			tb.fatalf("%s counted %s updates, want %d", sym, got, rounds)
		}
	}
	if got := tb.texts("#quotes tr td.symbol"); !slices.Equal(got, symbols) {
		tb.fatalf("the table has rows %q, want one per symbol, replaced in place: %q", got, symbols)
	}
	tb.checkOnce(ids, "quote")

	// The page's built-in feed: let it publish a while, stop it, and every
	// quote it sent is shown, on the same five rows.
	tb.click("#start")
	tb.waitFor("the built-in feed to publish 40 quotes", `Number(document.getElementById('sent').textContent) >= 40`)
	tb.click("#stop")
	state := tb.settle("the quote counters", `document.getElementById('sent').textContent + ' ' + document.getElementById('received').textContent`)
	var sent, received int
	if _, err := fmt.Sscan(state, &sent, &received); err != nil {
		tb.fatalf("reading the counters %q: %v", state, err)
	}
	if received != len(ids)+sent {
		tb.fatalf("received %d quotes, want %d (%d from Go, %d from the feed)", received, len(ids)+sent, len(ids), sent)
	}
	for _, sym := range symbols {
		if got := tb.text(`#quotes tr[data-symbol="` + sym + `"] .updates`); got != strconv.Itoa(rounds+sent/len(symbols)) {
			tb.fatalf("%s counted %s updates, want %d", sym, got, rounds+sent/len(symbols))
		}
	}
	if n := len(tb.texts("#quotes tr")); n != len(symbols) {
		tb.fatalf("the table grew to %d rows", n)
	}
	if got := tb.received("quote"); len(got) != len(ids)+sent {
		tb.fatalf("the EventSource received %d distinct quotes, want %d", len(got), len(ids)+sent)
	}
	for id, n := range tb.received("quote") {
		if n != 1 {
			tb.fatalf("quote %s arrived %d times", id, n)
		}
	}
}

// publishBatch publishes a JSON array of events and returns their ids.
func publishBatch(t *testing.T, s *testServer, events []map[string]any) []string {
	t.Helper()
	body, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.url("/publish"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var acks []publishResult
	if err := json.NewDecoder(resp.Body).Decode(&acks); err != nil || resp.StatusCode != http.StatusOK || len(acks) != len(events) {
		t.Fatalf("batch publish: status %d, %d acks for %d events: %v", resp.StatusCode, len(acks), len(events), err)
	}
	ids := make([]string, len(acks))
	for i, a := range acks {
		ids[i] = a.ID
	}
	return ids
}

func TestServerBrowserJobProgress(t *testing.T) {
	s, _, tb := startDemo(t, "job.html", "#watch-btn")

	// A worker in Go reports on job/build-42.
	tb.fill("#job-id", "build-42")
	tb.click("#watch-btn")
	tb.waitText("#state", "open")
	var ids []string
	for _, p := range []map[string]any{{"percent": 25, "step": "compiling"}, {"percent": 50, "step": "testing"}} {
		id, _ := publishTo(t, s, "job/build-42", "progress", p)
		ids = append(ids, id)
	}
	tb.waitText("#status", "running: 50%")
	var bar float64
	tb.eval(`document.getElementById('bar').value`, &bar)
	if bar != 50 {
		tb.fatalf("the progress bar is at %v, want 50", bar)
	}
	// Another job's events do not move this one.
	publishTo(t, s, "job/build-41", "progress", map[string]any{"percent": 90})
	id, _ := publishTo(t, s, "job/build-42", "done", map[string]any{"result": "artifact.tar.gz"})
	ids = append(ids, id)
	tb.waitText("#status", "done: artifact.tar.gz")
	tb.waitText("#state", "closed") // a finished job is no longer followed
	tb.eval(`document.getElementById('bar').value`, &bar)
	if got := tb.texts("#steps li"); bar != 100 || !slices.Equal(got, []string{"25%compiling", "50%testing", "100%done"}) {
		tb.fatalf("after done: bar %v, steps %q", bar, got)
	}
	tb.checkOnce(ids, "progress", "done", "failed")

	// The page's simulated worker, failing part-way.
	tb.fill("#job-id", "build-43")
	tb.click("#fail")
	tb.waitText("#status", "failed: disk full while parsing")
	tb.eval(`document.getElementById('bar').value`, &bar)
	if got := tb.texts("#steps li"); bar != 20 || !slices.Equal(got, []string{"0%queued", "20%downloading", "failed: disk full while parsing"}) {
		tb.fatalf("after the failure: bar %v, steps %q", bar, got)
	}
	var failedState string
	tb.eval(`document.getElementById('status').dataset.status`, &failedState)
	if failedState != "failed" {
		tb.fatalf("the status is marked %q, want failed", failedState)
	}

	// And running to completion.
	tb.fill("#job-id", "build-44")
	tb.click("#run")
	tb.waitText("#status", "done: 5 files processed")
	if got := tb.texts("#steps li"); !slices.Equal(got, []string{"0%queued", "20%downloading", "40%parsing", "60%resizing", "80%uploading", "100%done"}) {
		tb.fatalf("the completed job shows steps %q", got)
	}
	for id, n := range tb.received("progress", "done", "failed") {
		if n != 1 {
			tb.fatalf("job event %s arrived %d times", id, n)
		}
	}
	tb.checkNoExceptions()
}

func TestServerBrowserDashboard(t *testing.T) {
	s, _, tb := startDemo(t, "dashboard.html", "#start")
	tb.waitText("#state", "open")

	// The hub's own counters, from its stats topic: the page's stream is
	// its one subscriber, and nothing was published yet.
	tb.waitText("#hub-subscribers", "1")
	if p, d := tb.text("#hub-published"), tb.text("#hub-delivered"); p != "0" || d != "0" {
		tb.fatalf("before any publish the hub tiles show published %s, delivered %s; want 0 and 0", p, d)
	}
	// They move when the test subscribes.
	other := s.subscribe("/events?topic=elsewhere")
	tb.waitText("#hub-subscribers", "2")
	if topics := tb.texts("#hub-topics li"); !slices.Contains(topics, "elsewhere 1") || !slices.Contains(topics, "hub/stats 1") {
		tb.fatalf("the busiest topics show %q, want elsewhere and hub/stats with one subscriber each", topics)
	}
	other.close()
	tb.waitText("#hub-subscribers", "1")

	var ids []string
	for i, latency := range []int{10, 20, 30, 40, 50} {
		id, _ := publishTo(t, s, "metrics", "metrics", map[string]int{"requests": 100 + i, "errors": i, "latency_ms": latency})
		ids = append(ids, id)
	}
	tb.waitText("#samples", "5")
	// ... and when it publishes: five events stored, each delivered to the
	// page, the newest id shown; stats events themselves count as neither.
	tb.waitText("#hub-published", "5")
	tb.waitText("#hub-delivered", "5")
	tb.waitText("#hub-history", "5")
	tb.waitFor("the newest id in the hub status", `document.getElementById('hub-status').textContent.includes(`+strconv.Quote(ids[4])+`)`)
	if r, e, l := tb.text("#requests"), tb.text("#errors"), tb.text("#latency"); r != "104" || e != "4" || l != "50" {
		tb.fatalf("the tiles show requests %s, errors %s, latency %s; want the last sample: 104, 4, 50", r, e, l)
	}
	points := chartPoints(tb)
	if len(points) != 5 {
		tb.fatalf("the chart has %d points, want 5", len(points))
	}
	for i := 1; i < len(points); i++ {
		if !(points[i][0] > points[i-1][0] && points[i][1] < points[i-1][1]) {
			tb.fatalf("rising latencies should draw a line rising to the right: %v", points)
		}
	}
	tb.checkOnce(ids, "metrics")

	// The page's simulated service adds samples to the same chart.
	tb.click("#start")
	tb.waitFor("three more samples", `Number(document.getElementById('samples').textContent) >= 8`)
	tb.click("#stop")
	state := tb.settle("the samples", `document.getElementById('samples').textContent + ' ' + document.getElementById('line').getAttribute('points').split(' ').length`)
	var samples, drawn int
	if _, err := fmt.Sscan(state, &samples, &drawn); err != nil {
		tb.fatalf("reading the samples %q: %v", state, err)
	}
	if drawn != samples {
		tb.fatalf("the chart has %d points for %d samples", drawn, samples)
	}
	if got := tb.received("metrics"); len(got) != samples {
		tb.fatalf("the page counted %d samples, its EventSource received %d", samples, len(got))
	}
	tb.checkNoExceptions()
}

// chartPoints are the dashboard chart's points, as x, y.
func chartPoints(tb *tab) [][2]float64 {
	tb.t.Helper()
	var raw string
	tb.eval(`document.getElementById('line').getAttribute('points')`, &raw)
	var points [][2]float64
	for _, p := range strings.Fields(raw) {
		xs, ys, _ := strings.Cut(p, ",")
		x, errX := strconv.ParseFloat(xs, 64)
		y, errY := strconv.ParseFloat(ys, 64)
		if errX != nil || errY != nil || math.IsNaN(x) || math.IsNaN(y) {
			tb.fatalf("the chart has a bad point %q", p)
		}
		points = append(points, [2]float64{x, y})
	}
	return points
}

func TestServerBrowserChat(t *testing.T) {
	s, b, ann := startDemo(t, "chat.html", "#join-btn")
	ben := b.open("/chat.html", "#join-btn")
	join := func(tb *tab, name string) {
		tb.fill("#name", name)
		tb.click("#join-btn")
		tb.waitText("#state", "open")
		tb.waitFor("the connection id", `document.getElementById('connection-id').textContent.length > 3`)
	}
	join(ann, "ann")
	ann.waitFor("ann's own join notice to be sent", `document.querySelector('#messages li.notice.mine[data-id]')`)
	join(ben, "ben")
	ann.waitFor("ben's join notice", `Array.from(document.querySelectorAll('#messages li'), e => e.textContent).includes('ben joined.')`)

	say := func(tb *tab, text string) string {
		tb.fill("#text", text)
		tb.click("#send")
		var id string
		tb.waitFor("the sent message to be acknowledged", `document.querySelector('#messages li.chat.mine:not(.pending):last-child')`)
		tb.eval(`document.querySelector('#messages li.chat.mine:last-child').dataset.id`, &id)
		return id
	}
	annSaid := say(ann, "hello from ann")
	benSaid := say(ben, "hi ann")
	noticeID, n := publishTo(t, s, "chat/lobby", "notice", "The room closes at 18:00")
	if n != 2 {
		t.Fatalf("the room notice reached %d subscribers, want the 2 tabs", n)
	}
	for _, tb := range []*tab{ann, ben} {
		tb.waitFor("the room notice", `document.querySelector('#messages li:last-child').textContent === 'The room closes at 18:00'`)
	}
	for _, tb := range []*tab{ann, ben} { // a late duplicate would show
		tb.settle("the room", `document.getElementById('messages').textContent`)
	}

	// Each tab shows each line once: its own from the local echo, the
	// other's from the stream.
	wantAnn := []string{"You joined as ann.", "ben joined.", "annhello from ann", "benhi ann", "The room closes at 18:00"}
	wantBen := []string{"You joined as ben.", "annhello from ann", "benhi ann", "The room closes at 18:00"}
	if got := ann.texts("#messages li"); !slices.Equal(got, wantAnn) {
		ann.fatalf("ann's tab shows %q, want %q", got, wantAnn)
	}
	if got := ben.texts("#messages li"); !slices.Equal(got, wantBen) {
		ben.fatalf("ben's tab shows %q, want %q", got, wantBen)
	}

	// The hub never sent a tab its own messages: exclude did its work.
	var benJoined string
	ben.eval(`document.querySelector('#messages li.notice.mine').dataset.id`, &benJoined)
	ann.checkOnce([]string{benJoined, benSaid, noticeID}, "chat", "notice")
	ben.checkOnce([]string{annSaid, noticeID}, "chat", "notice")
}
