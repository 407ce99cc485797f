// Command ssebench load-tests an SSE hub over loopback.
//
// It opens many subscriber connections (raw HTTP/1.1 on TCP, one goroutine
// each), waits until every one has received its "connected" event, publishes
// sequence-numbered events through the hub's publish endpoint at a given rate
// and checks on every subscriber that each acknowledged event arrived exactly
// once. It measures delivery latency, the hub's memory per connection and
// the CPU time of the hub and of itself, and prints one JSON line on stdout.
// Progress and errors go to stderr. Run it with -h for the flags and
// examples.
//
// This file holds the flags, scenario presets, the run phases and the output.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

// config holds the effective settings of a run.
type config struct {
	subURL         string
	pubURL         string
	topicList      string
	topics         []string
	subscribers    int
	sourceIPs      int
	connectRate    float64
	connectTimeout time.Duration
	rate           float64
	publishers     int
	duration       time.Duration
	events         uint64
	batch          int
	ndjson         bool
	payload        int
	reconnectEvery int
	readBuffer     int
	pid            int
	idle           time.Duration
	drain          time.Duration
	scenario       string
	timeout        time.Duration
	label          string
	cpuProfile     string // file for a CPU profile of the whole run

	proto    string // h1, h2 or h3 (h2 and h3 need an https URL)
	compress string // Accept-Encoding of subscribers; "" asks for none

	noPublish bool // idle scenario
}

// scenarios are the -scenario presets: flag values applied unless the flag
// was given explicitly. The idle scenario also disables publishing.
var scenarios = map[string][][2]string{
	"idle":      {},
	"fanout":    {{"rate", "10"}},
	"flat":      {{"rate", "0"}, {"publishers", "4"}},
	"publish":   {{"subscribers", "10"}, {"publishers", "32"}, {"rate", "0"}},
	"reconnect": {{"reconnect-every", "50"}, {"rate", "200"}},
	"stream":    {{"subscribers", "10"}, {"publishers", "1"}, {"rate", "0"}, {"ndjson", "true"}, {"batch", "100"}, {"read-buffer", "65536"}},
}

const usageText = `ssebench drives an SSE hub over loopback: it opens many subscriber
connections, publishes sequence-numbered events, verifies that every
subscriber got every acknowledged event exactly once, and prints one JSON
line with counts, delivery latency, server memory and CPU time.

Usage:
  go run ./cmd/ssebench [flags]

Phases: read server RSS; connect -subscribers at -connect-rate and wait for
each "connected" event; if -pid is set (or for -scenario idle) hold the
connections idle for -idle and read RSS again; publish for -duration (or
-events) at -rate; wait up to -drain for the deliveries to finish; close.
Publishing starts only after all subscribers are connected, so every
subscriber must receive every event the hub acknowledged with 200.

Scenarios (-scenario presets; flags given explicitly override them):
  idle       connect, hold -idle, measure RSS; no publishing
  fanout     -rate 10: every event goes to all subscribers
  flat       -rate 0 -publishers 4: publish as fast as the hub acknowledges
  publish    -subscribers 10 -publishers 32 -rate 0: publish-path throughput
  reconnect  -reconnect-every 50 -rate 200: Last-Event-ID resumption churn
  stream     -subscribers 10 -publishers 1 -rate 0 -ndjson -batch 100
             -read-buffer 65536: one streaming publish, flat out

Examples:
  go run ./cmd/ssebench -scenario idle -subscribers 10000 -pid $(pidof caddy) -idle 10s
  go run ./cmd/ssebench -scenario fanout -subscribers 10000 -pid $(pidof caddy)
  go run ./cmd/ssebench -scenario flat -subscribers 1000 -duration 20s -batch 10
  go run ./cmd/ssebench -scenario publish -payload 512 -label "after pool change"
  go run ./cmd/ssebench -scenario reconnect -subscribers 2000 -drain 5s
  go run ./cmd/ssebench -scenario stream -subscribers 1000 -rate 1500
  go run ./cmd/ssebench -sub-url http://localhost:2015/sse -pub-url http://localhost:2015/publish -topic a,b

Output fields (one JSON line): published = events acknowledged with 200;
expected_deliveries = published x connected; missing = acknowledged events a
connected subscriber never received; duplicates = events received twice;
latency_ms = publish-to-receive time percentiles; rss_* and cpu_server_sec
need -pid (null otherwise); rss_per_sub = (rss_after-rss_before)/connected;
duration_sec is the publish phase (the idle hold for -scenario idle) and
drain_sec the part of -drain used; cpu_tool_sec and cpu_server_sec cover
both; deliveries_per_sec = deliveries/(duration_sec+drain_sec).

Exit status: 0 done; 1 stopped by -timeout or a signal, or no subscriber
could connect (the JSON line is still printed, with "aborted" set); 2 bad
flags or a non-loopback URL.

Flags:
`

// parseConfig parses the command line and applies the scenario preset.
func parseConfig(args []string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("ssebench", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.subURL, "sub-url", "http://127.0.0.1:8080/events", "subscribe `URL`; topic parameters are added")
	fs.StringVar(&cfg.pubURL, "pub-url", "", "publish `URL` (default: the -sub-url)")
	fs.StringVar(&cfg.topicList, "topic", "bench", "topic; a comma-separated `list` subscribes to all and publishes round-robin")
	fs.IntVar(&cfg.subscribers, "subscribers", 1000, "number of subscriber connections")
	fs.IntVar(&cfg.sourceIPs, "source-ips", 0, "spread subscribers over source addresses 127.0.0.1..127.0.0.`K` (default ceil(subscribers/10000))")
	fs.Float64Var(&cfg.connectRate, "connect-rate", 2000, "new subscriber connections per second while ramping up (0 = all at once)")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 30*time.Second, "per connection: time allowed for dial, response and the connected event")
	fs.Float64Var(&cfg.rate, "rate", 100, "events per second to publish (0 = flat out)")
	fs.IntVar(&cfg.publishers, "publishers", 1, "concurrent publishing goroutines (each one request at a time)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of the publish phase")
	fs.Uint64Var(&cfg.events, "events", 0, "stop publishing after this many events (0 = no cap)")
	fs.IntVar(&cfg.batch, "batch", 1, "events per publish request (above 1: JSON array); with -ndjson, lines per write")
	fs.BoolVar(&cfg.ndjson, "ndjson", false, "each publisher sends one long application/x-ndjson request, one event per line")
	fs.IntVar(&cfg.payload, "payload", 0, "extra padding `bytes` in each event's data")
	fs.IntVar(&cfg.reconnectEvery, "reconnect-every", 0, "each subscriber reconnects with Last-Event-ID after every `N` events (0 = never)")
	fs.IntVar(&cfg.readBuffer, "read-buffer", minReadBuffer, "read buffer `bytes` per subscriber connection: the most one read takes")
	fs.IntVar(&cfg.pid, "pid", 0, "server process id for RSS (/proc/PID/status) and CPU (/proc/PID/stat)")
	fs.DurationVar(&cfg.idle, "idle", 5*time.Second, "hold the connections idle this long before measuring RSS (with -pid or -scenario idle)")
	fs.DurationVar(&cfg.drain, "drain", 3*time.Second, "after publishing, wait up to this long for deliveries to finish")
	fs.StringVar(&cfg.scenario, "scenario", "", "preset: idle, fanout, flat, publish, reconnect or stream")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "hard limit for the whole run")
	fs.StringVar(&cfg.label, "label", "", "free text copied to the output")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file` (for go tool pprof)")
	fs.StringVar(&cfg.proto, "proto", "h1", "subscriber protocol: h1 (HTTP/1.1), h2 (HTTP/2) or h3 (HTTP/3); h2 and h3 need an https -sub-url; one connection per subscriber")
	fs.StringVar(&cfg.compress, "compress", "", "subscribers' Accept-Encoding, e.g. gzip, zstd or \"zstd, gzip\"; responses are decoded by their Content-Encoding")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	if cfg.scenario != "" {
		preset, ok := scenarios[cfg.scenario]
		if !ok {
			return nil, fmt.Errorf("unknown -scenario %q (want idle, fanout, flat, publish, reconnect or stream)", cfg.scenario)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, kv := range preset {
			if !set[kv[0]] {
				if err := fs.Set(kv[0], kv[1]); err != nil {
					return nil, err
				}
			}
		}
		cfg.noPublish = cfg.scenario == "idle"
	}

	if cfg.pubURL == "" {
		cfg.pubURL = cfg.subURL
	}
	for _, t := range strings.Split(cfg.topicList, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.topics = append(cfg.topics, t)
		}
	}
	if cfg.sourceIPs == 0 {
		cfg.sourceIPs = max(1, (cfg.subscribers+9999)/10000)
	}
	switch {
	case len(cfg.topics) == 0:
		return nil, errors.New("-topic is empty")
	case cfg.subscribers < 0:
		return nil, errors.New("-subscribers must not be negative")
	case cfg.sourceIPs < 1 || cfg.sourceIPs > 254:
		return nil, errors.New("-source-ips must be between 1 and 254")
	case cfg.connectRate < 0 || cfg.rate < 0:
		return nil, errors.New("-connect-rate and -rate must not be negative")
	case cfg.connectTimeout <= 0 || cfg.timeout <= 0:
		return nil, errors.New("-connect-timeout and -timeout must be positive")
	case cfg.publishers < 1:
		return nil, errors.New("-publishers must be at least 1")
	case cfg.batch < 1:
		return nil, errors.New("-batch must be at least 1")
	case cfg.readBuffer < minReadBuffer:
		return nil, fmt.Errorf("-read-buffer must be at least %d", minReadBuffer)
	case cfg.payload < 0 || cfg.reconnectEvery < 0:
		return nil, errors.New("-payload and -reconnect-every must not be negative")
	case !cfg.noPublish && cfg.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case cfg.idle < 0 || cfg.drain < 0:
		return nil, errors.New("-idle and -drain must not be negative")
	case cfg.pid < 0:
		return nil, errors.New("-pid must not be negative")
	case cfg.proto != "h1" && cfg.proto != "h2" && cfg.proto != "h3":
		return nil, fmt.Errorf("-proto %q: want h1, h2 or h3", cfg.proto)
	case cfg.proto != "h1" && !strings.HasPrefix(cfg.subURL, "https://"):
		return nil, fmt.Errorf("-proto %s needs an https:// -sub-url", cfg.proto)
	case cfg.events >= math.MaxUint32:
		return nil, errors.New("-events is too large")
	}
	return cfg, nil
}

// target is where the traffic goes, resolved once to loopback addresses.
type target struct {
	subIP   net.IP
	subAddr string // ip:port the subscribers dial
	subHost string // Host header
	subPath string // request target, with the topic parameters
	subURL  string // the full subscribe URL, with the topic parameters
	tls     bool   // the subscribe URL is https
	sni     string // TLS server name: the host unless it is an IP address
	pubURL  string
	pubAddr string // ip:port the publishers dial
}

// resolveTarget parses the URLs and checks that their hosts resolve only to
// loopback addresses.
func resolveTarget(ctx context.Context, cfg *config) (*target, error) {
	su, subIP, subAddr, err := parseLoopbackURL(ctx, "-sub-url", cfg.subURL)
	if err != nil {
		return nil, err
	}
	_, _, pubAddr, err := parseLoopbackURL(ctx, "-pub-url", cfg.pubURL)
	if err != nil {
		return nil, err
	}
	q := su.Query()
	for _, t := range cfg.topics {
		q.Add("topic", t)
	}
	su.RawQuery = q.Encode()
	return &target{
		subIP:   subIP,
		subAddr: subAddr,
		subHost: su.Host,
		subPath: su.RequestURI(),
		subURL:  su.String(),
		tls:     su.Scheme == "https",
		sni:     serverName(su.Hostname()),
		pubURL:  cfg.pubURL,
		pubAddr: pubAddr,
	}, nil
}

// parseLoopbackURL parses an http URL whose host must resolve to loopback
// addresses only, and returns the address (IPv4 preferred) to dial.
func parseLoopbackURL(ctx context.Context, name, raw string) (*url.URL, net.IP, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, nil, "", fmt.Errorf("%s %q: only http:// and https:// URLs are supported", name, raw)
	}
	host := u.Hostname()
	if host == "" {
		return nil, nil, "", fmt.Errorf("%s %q: no host", name, raw)
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: resolving %s: %w", name, host, err)
	}
	var pick net.IP
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return nil, nil, "", fmt.Errorf("%s: %s resolves to %s, which is not loopback; ssebench only sends traffic to 127.0.0.0/8 or ::1", name, host, a.IP)
		}
		if pick == nil || (pick.To4() == nil && a.IP.To4() != nil) {
			pick = a.IP
		}
	}
	if pick == nil {
		return nil, nil, "", fmt.Errorf("%s: %s has no addresses", name, host)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u, pick, net.JoinHostPort(pick.String(), port), nil
}

// latencyStats are percentiles in milliseconds.
type latencyStats struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Count uint64  `json:"count"`
}

// latencyFrom summarises a histogram of microseconds.
func latencyFrom(h *histogram) latencyStats {
	ms := func(us uint64) float64 { return round3(float64(us) / 1000) }
	return latencyStats{
		P50:   ms(h.quantile(0.50)),
		P90:   ms(h.quantile(0.90)),
		P99:   ms(h.quantile(0.99)),
		P999:  ms(h.quantile(0.999)),
		Max:   ms(h.max.Load()),
		Count: h.count(),
	}
}

// params echoes the effective settings in the output.
type params struct {
	SubURL         string   `json:"sub_url"`
	PubURL         string   `json:"pub_url"`
	Topics         []string `json:"topics"`
	Rate           float64  `json:"rate"`
	Publishers     int      `json:"publishers"`
	Batch          int      `json:"batch"`
	NDJSON         bool     `json:"ndjson,omitempty"`
	Payload        int      `json:"payload"`
	Events         uint64   `json:"events"`
	DurationSec    float64  `json:"duration_sec"`
	ReconnectEvery int      `json:"reconnect_every"`
	SourceIPs      int      `json:"source_ips"`
	ConnectRate    float64  `json:"connect_rate"`
	IdleSec        float64  `json:"idle_sec"`
	DrainSec       float64  `json:"drain_sec"`
	PID            int      `json:"pid"`
	Proto          string   `json:"proto"`
	Compress       string   `json:"compress,omitempty"`
	ReadBuffer     int      `json:"read_buffer"`
}

// result is the JSON line printed at the end of a run.
type result struct {
	Scenario           string       `json:"scenario"`
	Label              string       `json:"label"`
	Subscribers        int          `json:"subscribers"`
	Connected          int          `json:"connected"`
	ConnectErrors      int          `json:"connect_errors"`
	Published          uint64       `json:"published"`
	PublishErrors      uint64       `json:"publish_errors"`
	PublishRate        float64      `json:"publish_rate"`
	Deliveries         uint64       `json:"deliveries"`
	DeliveriesPerSec   float64      `json:"deliveries_per_sec"`
	ExpectedDeliveries uint64       `json:"expected_deliveries"`
	Missing            uint64       `json:"missing"`
	Duplicates         uint64       `json:"duplicates"`
	Reconnects         uint64       `json:"reconnects"`
	Resets             uint64       `json:"resets"`
	LatencyMS          latencyStats `json:"latency_ms"`
	RSSBefore          *int64       `json:"rss_before"`
	RSSAfter           *int64       `json:"rss_after"`
	RSSPerSub          *float64     `json:"rss_per_sub"`
	CPUToolSec         float64      `json:"cpu_tool_sec"`
	CPUServerSec       *float64     `json:"cpu_server_sec"`
	DurationSec        float64      `json:"duration_sec"`

	DrainSec            float64      `json:"drain_sec"`
	ConnectSec          float64      `json:"connect_sec"`
	CPUServerConnectSec *float64     `json:"cpu_server_connect_sec"`
	TotalSec            float64      `json:"total_sec"`
	ReconnectErrors     uint64       `json:"reconnect_errors"`
	ServerDisconnects   uint64       `json:"server_disconnects"`
	Heartbeats          uint64       `json:"heartbeats"`
	OtherEvents         uint64       `json:"other_events"`
	PublishRequests     uint64       `json:"publish_requests"`
	PublishLatencyMS    latencyStats `json:"publish_latency_ms"`
	ServerSubsMin       *int64       `json:"server_subscribers_min"`
	ServerSubsMax       *int64       `json:"server_subscribers_max"`
	ConnectErrorSample  string       `json:"connect_error_sample,omitempty"`
	PublishErrorSample  string       `json:"publish_error_sample,omitempty"`
	Params              params       `json:"params"`
	Aborted             string       `json:"aborted,omitempty"`

	// Connected subscribers by the protocol and Content-Encoding of their
	// last response.
	Protocols        map[string]int `json:"protocols,omitempty"`
	ContentEncodings map[string]int `json:"content_encodings,omitempty"`
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func secs(d time.Duration) float64 { return round3(d.Seconds()) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ssebench: "+format+"\n", args...)
}

// progress prints line() to stderr every interval until stop is called.
func progress(every time.Duration, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				logf("%s", line())
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// serverCPU reads the server's CPU time, if -pid was given.
func serverCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	d, err := readCPU(pid)
	if err != nil {
		logf("reading server CPU: %v", err)
		return 0, false
	}
	return d, true
}

// serverRSS reads the server's RSS, if -pid was given.
func serverRSS(pid int) *int64 {
	if pid <= 0 {
		return nil
	}
	v, err := readRSS(pid)
	if err != nil {
		logf("reading server RSS: %v", err)
		return nil
	}
	return &v
}

// cpuDelta returns b-a in seconds if both readings worked.
func cpuDelta(a time.Duration, aok bool, b time.Duration, bok bool) *float64 {
	if !aok || !bok {
		return nil
	}
	v := secs(b - a)
	return &v
}

// run executes the phases and returns the result. It stops early, with
// partial numbers, when ctx ends.
func run(ctx context.Context, cfg *config, tg *target) *result {
	wall := time.Now()
	res := &result{
		Scenario:    cfg.scenario,
		Label:       cfg.label,
		Subscribers: cfg.subscribers,
		Params: params{
			SubURL: cfg.subURL, PubURL: cfg.pubURL, Topics: cfg.topics,
			Rate: cfg.rate, Publishers: cfg.publishers, Batch: cfg.batch, NDJSON: cfg.ndjson,
			Payload: cfg.payload, Events: cfg.events, DurationSec: secs(cfg.duration),
			ReconnectEvery: cfg.reconnectEvery, SourceIPs: cfg.sourceIPs,
			ConnectRate: cfg.connectRate, IdleSec: secs(cfg.idle),
			DrainSec: secs(cfg.drain), PID: cfg.pid,
			Proto: cfg.proto, Compress: cfg.compress, ReadBuffer: cfg.readBuffer,
		},
	}
	if res.Scenario == "" {
		res.Scenario = "custom"
	}
	if cfg.noPublish {
		res.Params.Rate, res.Params.Publishers, res.Params.DurationSec = 0, 0, 0
	}

	res.RSSBefore = serverRSS(cfg.pid)
	sw := newSwarm(cfg, tg)
	subCtx, cancelSubs := context.WithCancel(ctx)
	defer cancelSubs()

	// Connect.
	logf("connecting %d subscribers to %s (%d source addresses, %g/s)", cfg.subscribers, tg.subAddr, len(sw.dialers), cfg.connectRate)
	srv0, ok0 := serverCPU(cfg.pid)
	t0 := time.Now()
	stop := progress(time.Second, func() string {
		return fmt.Sprintf("connecting: launched %d, connected %d, failed %d", sw.launched.Load(), sw.readyN.Load(), sw.failN.Load())
	})
	started := sw.start(ctx, subCtx)
	stop()
	res.ConnectSec = secs(time.Since(t0))
	srv1, ok1 := serverCPU(cfg.pid)
	res.CPUServerConnectSec = cpuDelta(srv0, ok0, srv1, ok1)
	ready := sw.readyN.Load()
	logf("connected %d of %d subscribers in %.2fs (%d failed)", ready, cfg.subscribers, res.ConnectSec, sw.failN.Load())

	var pub *publisher
	if started && cfg.subscribers > 0 && ready == 0 {
		logf("no subscriber connected; skipping the rest of the run")
		res.Aborted = "no subscriber connected"
		started = false
	}
	if started {
		var measured, drained time.Duration
		var cpuA, cpuB, srvA, srvB time.Duration
		var okA, okB bool
		if cfg.noPublish {
			cpuA = selfCPU()
			srvA, okA = serverCPU(cfg.pid)
			logf("holding connections idle for %v", cfg.idle)
			ti := time.Now()
			sleepCtx(ctx, cfg.idle)
			measured = time.Since(ti)
			res.RSSAfter = serverRSS(cfg.pid)
			cpuB = selfCPU()
			srvB, okB = serverCPU(cfg.pid)
		} else {
			if cfg.pid > 0 {
				logf("holding connections idle for %v before measuring RSS", cfg.idle)
				sleepCtx(ctx, cfg.idle)
				res.RSSAfter = serverRSS(cfg.pid)
			}
			pub = newPublisher(cfg, tg)
			cpuA = selfCPU()
			srvA, okA = serverCPU(cfg.pid)
			logf("publishing for %v at %s with %d publishers, batch %d", cfg.duration, rateText(cfg.rate), cfg.publishers, cfg.batch)
			stop := progress(time.Second, func() string {
				return fmt.Sprintf("publishing: acknowledged %d, failed %d, deliveries %d", pub.acked.count(), pub.errors.Load(), sw.deliveries())
			})
			measured = pub.run(ctx)
			stop()
			if cfg.rate > 0 && !pub.capReached.Load() && ctx.Err() == nil {
				if got := float64(pub.acked.count()+pub.errors.Load()) / measured.Seconds(); got < 0.9*cfg.rate {
					logf("warning: published only %.1f events/s of -rate %g; the hub answers too slowly for %d publisher(s)", got, cfg.rate, cfg.publishers)
				}
			}
			drained = drain(ctx, cfg, sw, pub, ready)
			cpuB = selfCPU()
			srvB, okB = serverCPU(cfg.pid)
		}
		res.DurationSec = secs(measured)
		res.DrainSec = secs(drained)
		res.CPUToolSec = secs(cpuB - cpuA)
		res.CPUServerSec = cpuDelta(srvA, okA, srvB, okB)
	}

	cancelSubs()
	if !sw.wait(10 * time.Second) {
		logf("subscriber goroutines did not stop within 10s after cancellation")
		os.Exit(1)
	}
	tally(res, sw, pub)
	res.TotalSec = secs(time.Since(wall))
	if err := context.Cause(ctx); err != nil {
		res.Aborted = err.Error()
	}
	if pub != nil {
		res.PublishErrorSample = pub.firstErr()
	}
	return res
}

func rateText(rate float64) string {
	if rate == 0 {
		return "full speed"
	}
	return fmt.Sprintf("%g events/s", rate)
}

// drain waits up to -drain for the outstanding deliveries. When nothing was
// lost it ends early, 250ms (or -drain if shorter) after the last expected
// delivery, which still catches stray duplicates.
func drain(ctx context.Context, cfg *config, sw *swarm, pub *publisher, ready int64) time.Duration {
	start := time.Now()
	deadline := start.Add(cfg.drain)
	expected := pub.acked.count() * uint64(ready)
	if expected == 0 {
		return 0
	}
	// unique also counts events of failed requests that were delivered
	// anyway, so it only proves completeness when nothing failed.
	canEnd := pub.errors.Load() == 0
	logf("draining (up to %v): %d of %d expected deliveries so far", cfg.drain, sw.unique(), expected)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if canEnd && sw.unique() >= expected {
			sleepCtx(ctx, min(time.Until(deadline), 250*time.Millisecond))
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return time.Since(start)
		}
	}
	return time.Since(start)
}

// tally fills the delivery counters of res. It runs after all subscriber
// and publisher goroutines have returned.
func tally(res *result, sw *swarm, pub *publisher) {
	var acked uint64
	if pub != nil {
		acked = pub.acked.count()
		res.Published = acked
		res.PublishErrors = pub.errors.Load()
		res.PublishRequests = pub.requests.Load()
		res.PublishLatencyMS = latencyFrom(&pub.rtt)
		if v := pub.subsMin.Load(); v >= 0 {
			res.ServerSubsMin = &v
		}
		if v := pub.subsMax.Load(); v >= 0 {
			res.ServerSubsMax = &v
		}
		if res.DurationSec > 0 {
			res.PublishRate = round3(float64(acked) / res.DurationSec)
		}
	}
	launched := int(sw.launched.Load())
	for i := range sw.subs[:launched] {
		s := &sw.subs[i]
		switch {
		case s.ready:
			res.Connected++
			if pub != nil {
				res.Missing += acked - pub.acked.received(&s.seqs)
			}
		case s.failErr != nil:
			res.ConnectErrors++
			if res.ConnectErrorSample == "" {
				res.ConnectErrorSample = s.failErr.Error()
			}
		}
		res.Deliveries += s.deliveries
		res.Duplicates += s.duplicates
		res.Reconnects += s.reconnects
		res.ReconnectErrors += s.reconnectErrors
		res.ServerDisconnects += s.disconnects
		res.Resets += s.resets
		res.Heartbeats += s.heartbeats
		res.OtherEvents += s.foreign
	}
	res.ExpectedDeliveries = acked * uint64(res.Connected)
	if t := res.DurationSec + res.DrainSec; pub != nil && t > 0 {
		res.DeliveriesPerSec = round3(float64(res.Deliveries) / t)
	}
	res.LatencyMS = latencyFrom(sw.latency())
	tallyTransport(res, sw)
	if res.RSSBefore != nil && res.RSSAfter != nil && res.Connected > 0 {
		v := round3(float64(*res.RSSAfter-*res.RSSBefore) / float64(res.Connected))
		res.RSSPerSub = &v
	}
}

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		logf("%v", err)
		os.Exit(2)
	}
	lookupCtx, cancelLookup := context.WithTimeout(context.Background(), 10*time.Second)
	tg, err := resolveTarget(lookupCtx, cfg)
	cancelLookup()
	if err != nil {
		logf("%v", err)
		os.Exit(2)
	}
	if tg.subIP.To4() == nil && cfg.sourceIPs > 1 {
		logf("-sub-url is IPv6 loopback: -source-ips %d ignored", cfg.sourceIPs)
		cfg.sourceIPs = 1
	}
	if cfg.pid > 0 {
		if _, err := readRSS(cfg.pid); err != nil {
			logf("-pid %d: %v", cfg.pid, err)
			os.Exit(2)
		}
	}
	need := uint64(cfg.subscribers + cfg.publishers + 64)
	if limit := ensureFileLimit(need); limit < need {
		logf("warning: open file limit %d is below the %d this run needs; connections will fail", limit, need)
	}

	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeoutCause(sigCtx, cfg.timeout, errors.New("timeout"))
	defer cancel()
	// Last resort if some phase ignores the context.
	watchdog := time.AfterFunc(cfg.timeout+30*time.Second, func() {
		logf("watchdog: still running 30s after -timeout, exiting")
		os.Exit(1)
	})
	defer watchdog.Stop()

	stopProfile := func() {}
	if cfg.cpuProfile != "" {
		if stopProfile, err = startCPUProfile(cfg.cpuProfile); err != nil {
			logf("-cpuprofile: %v", err)
			os.Exit(2)
		}
	}
	res := run(ctx, cfg, tg)
	stopProfile() // not deferred: report's exits skip deferred calls
	report(res, sigCtx)
}

// report prints the result and exits with a failure status if the run was
// aborted.
func report(res *result, sigCtx context.Context) {
	if sigCtx.Err() != nil {
		res.Aborted = "interrupted"
	}
	if err := writeResult(os.Stdout, res); err != nil {
		logf("writing result: %v", err)
		os.Exit(1)
	}
	logf("done: %d/%d connected, %d published, %d deliveries, %d missing, %d duplicates, p99 %.3fms",
		res.Connected, res.Subscribers, res.Published, res.Deliveries, res.Missing, res.Duplicates, res.LatencyMS.P99)
	if res.Aborted != "" {
		logf("run aborted: %s", res.Aborted)
		os.Exit(1)
	}
}

// writeResult prints res as one JSON line.
func writeResult(w io.Writer, res *result) error {
	enc := json.NewEncoder(w) // Encode ends the line with '\n'
	enc.SetEscapeHTML(false)
	return enc.Encode(res)
}

// startCPUProfile starts a CPU profile written to path; the returned
// function stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting the profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			logf("-cpuprofile: %v", err)
		}
	}, nil
}
