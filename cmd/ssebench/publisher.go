package main

// This file holds the publishing side: -publishers goroutines that POST
// sequence-numbered benchmark events through net/http, paced to -rate events
// per second (or flat out), and record which sequence numbers the hub
// acknowledged.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// publisher runs the publish phase.
type publisher struct {
	cfg    *config
	url    string
	client *http.Client
	topics [][]byte // JSON string literals of the topics
	pad    string

	start, end time.Time

	next       atomic.Uint64 // last claimed sequence number
	capReached atomic.Bool   // -events was exhausted
	acked      ackSet        // sequence numbers answered with 200
	errors     atomic.Uint64 // events in failed requests
	requests   atomic.Uint64 // requests answered (any status)
	rtt        histogram     // request round trip, microseconds
	subsMin    atomic.Int64  // smallest "subscribers" in an acknowledgement, -1 if none
	subsMax    atomic.Int64  // largest one
	logged     atomic.Int64
	warnedAck  atomic.Bool

	firstErrOnce sync.Once
	firstErrText string
}

// firstErr returns the first publish error, once the workers have stopped.
func (p *publisher) firstErr() string {
	return p.firstErrText
}

// newPublisher prepares the HTTP client and request templates.
func newPublisher(cfg *config, tg *target) *publisher {
	p := &publisher{cfg: cfg, url: tg.pubURL, pad: strings.Repeat("x", cfg.payload)}
	p.subsMin.Store(-1)
	p.subsMax.Store(-1)
	for _, t := range cfg.topics {
		q, _ := json.Marshal(t)
		p.topics = append(p.topics, q)
	}
	dialer := &net.Dialer{Timeout: cfg.connectTimeout, Control: loopbackControl(false)}
	addr := tg.pubAddr
	tr := &http.Transport{
		Proxy: nil, // never send benchmark traffic to a proxy
		// All requests go to the one pre-resolved loopback address.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          cfg.publishers + 1,
		MaxIdleConnsPerHost:   cfg.publishers + 1,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
		TLSClientConfig:       clientTLS(tg.sni),
	}
	p.client = &http.Client{Transport: tr, Timeout: time.Minute}
	return p
}

// run publishes until -duration has passed, -events were claimed or ctx
// ends, and returns the length of the phase: the full -duration unless the
// -events cap ended it earlier, plus the last requests in flight.
func (p *publisher) run(ctx context.Context) time.Duration {
	p.start = time.Now()
	p.end = p.start.Add(p.cfg.duration)
	var wg sync.WaitGroup
	for range p.cfg.publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.cfg.ndjson {
				p.streamWorker(ctx)
			} else {
				p.worker(ctx)
			}
		}()
	}
	wg.Wait()
	if !p.capReached.Load() {
		sleepCtx(ctx, time.Until(p.end))
	}
	p.client.CloseIdleConnections()
	return time.Since(p.start)
}

// worker claims batches of sequence numbers, waits for their scheduled time
// and posts them.
func (p *publisher) worker(ctx context.Context) {
	var buf []byte
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, last, ok := p.claim(ctx, timer)
		if !ok {
			return
		}
		buf = p.body(buf[:0], first, last)
		p.post(ctx, buf, first, last)
	}
}

// claim takes the next -batch sequence numbers and waits for their
// scheduled time (start + (seq-1)/rate, so a late publisher catches up
// without sleeping). It reports false when the phase is over: the event cap
// is reached, the context ended, or -duration passed.
func (p *publisher) claim(ctx context.Context, timer *time.Timer) (first, last uint64, ok bool) {
	if ctx.Err() != nil {
		return 0, 0, false
	}
	batch := uint64(p.cfg.batch)
	first = p.next.Add(batch) - batch + 1
	last = first + batch - 1
	if limit := p.cfg.events; limit > 0 {
		if first > limit {
			p.capReached.Store(true)
			return 0, 0, false
		}
		last = min(last, limit)
	}
	if p.cfg.rate > 0 {
		due := p.start.Add(time.Duration(float64(first-1) / p.cfg.rate * float64(time.Second)))
		if !due.Before(p.end) {
			return 0, 0, false
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return 0, 0, false
			}
		}
	}
	// The phase ends at -duration even when the publishers could not keep
	// up with -rate; the result then shows the shortfall.
	return first, last, time.Now().Before(p.end)
}

// body appends the JSON request body for events first..last. With -batch
// above 1 the body is always an array, even if the last batch is short.
// Each event's data is {"seq":N,"ts":<unix ns>,"pad":"xx..."} as a string.
func (p *publisher) body(b []byte, first, last uint64) []byte {
	ts := time.Now().UnixNano()
	array := p.cfg.batch > 1
	if array {
		b = append(b, '[')
	}
	for seq := first; seq <= last; seq++ {
		if seq > first {
			b = append(b, ',')
		}
		b = p.appendEvent(b, seq, ts)
	}
	if array {
		b = append(b, ']')
	}
	return b
}

// appendEvent appends the JSON object of event seq.
func (p *publisher) appendEvent(b []byte, seq uint64, ts int64) []byte {
	b = append(b, `{"topic":`...)
	b = append(b, p.topics[seq%uint64(len(p.topics))]...)
	b = append(b, `,"data":"{\"seq\":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,\"ts\":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,\"pad\":\"`...)
	b = append(b, p.pad...)
	return append(b, `\"}"}`...)
}

// post sends one request and records the outcome.
func (p *publisher) post(ctx context.Context, body []byte, first, last uint64) {
	n := last - first + 1
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		p.fail(n, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() == nil { // not our own cancellation
			p.fail(n, err)
		}
		return
	}
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	p.requests.Add(1)
	p.rtt.record(uint64(time.Since(t0).Microseconds()))
	if resp.StatusCode != http.StatusOK {
		p.fail(n, fmt.Errorf("HTTP %d: %s", resp.StatusCode, errorMessage(respBody)))
		return
	}
	// The 200 status is the acknowledgement; the body only feeds checks.
	p.acked.addRange(first, last)
	if err != nil {
		p.warnAck("reading publish response: %v", err)
		return
	}
	acks := 0
	for rest := respBody; ; {
		v, r, ok := numberAfterKey(rest, subscribersKey)
		if !ok {
			break
		}
		rest = r
		acks++
		for m := p.subsMin.Load(); (m < 0 || int64(v) < m) && !p.subsMin.CompareAndSwap(m, int64(v)); m = p.subsMin.Load() {
		}
		for m := p.subsMax.Load(); int64(v) > m && !p.subsMax.CompareAndSwap(m, int64(v)); m = p.subsMax.Load() {
		}
	}
	if uint64(acks) != n {
		p.warnAck("publish response has %d acknowledgements for %d events: %.200s", acks, n, respBody)
	}
}

var subscribersKey = []byte("subscribers")

// warnAck logs the first unexpected 200 response body.
func (p *publisher) warnAck(format string, args ...any) {
	if p.warnedAck.CompareAndSwap(false, true) {
		fmt.Fprintf(os.Stderr, "ssebench: warning: "+format+"\n", args...)
	}
}

// fail counts n events as not acknowledged and logs the first errors.
func (p *publisher) fail(n uint64, err error) {
	p.errors.Add(n)
	p.firstErrOnce.Do(func() { p.firstErrText = err.Error() })
	if c := p.logged.Add(1); c <= maxErrorLogs {
		fmt.Fprintf(os.Stderr, "ssebench: publish: %v\n", err)
		if c == maxErrorLogs {
			fmt.Fprintln(os.Stderr, "ssebench: further publish errors are counted but not logged")
		}
	}
}

// errorMessage extracts "error" from a JSON error body, or returns the
// body's beginning.
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
