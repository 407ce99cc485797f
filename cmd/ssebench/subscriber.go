package main

// This file holds the subscriber side: a raw HTTP/1.1 SSE client on a plain
// TCP connection (one goroutine, one -read-buffer sized bufio.Reader per
// subscriber) and the swarm that ramps the subscribers up, tracks readiness
// and tears them down. Per-event work is allocation-free: the bytes are
// decoded in place (parser.go), the seq and ts numbers are read straight
// from the data, and the sequence number goes into the subscriber's seqSet.
// What is shared is updated once per read, not per event: the clock is read
// when a read returns (every event in it arrived then), and the counters and
// the latency histogram of the subscriber's shard take the read's tally,
// with a run of events of the same latency recorded as one count.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// minReadBuffer is the smallest -read-buffer: a response header line
	// must fit. SSE events of this benchmark are far smaller; longer lines
	// still work (they are carried over between reads).
	minReadBuffer = 4096
	// numShards spreads the shared latency histograms and counters so that
	// the subscriber goroutines on different cores rarely share a cache line.
	numShards = 16
	// defaultRetry is the reconnect delay after the server ended a stream
	// when it never sent a retry field.
	defaultRetry = time.Second
	// maxRetry caps the backoff after failed reconnection attempts.
	maxRetry = 5 * time.Second
	// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT from <linux/in.h>: with
	// an explicit source address, defer the port choice to connect() so the
	// port only has to be unique per 4-tuple.
	ipBindAddressNoPort = 24
)

// shard holds counters and a latency histogram shared by 1/numShards of the
// subscribers.
type shard struct {
	lat        histogram     // delivery latency in microseconds
	deliveries atomic.Uint64 // data events received (including duplicates)
	unique     atomic.Uint64 // distinct sequence numbers received
	_          [64]byte
}

// swarm owns all subscribers of a run.
type swarm struct {
	cfg     *config
	reqHead []byte // request line and headers, without Last-Event-ID and the final CRLF
	addr    string // ip:port to dial
	url     string // full subscribe URL (net/http path)
	tls     bool   // subscribers speak TLS
	sni     string // TLS server name to send, "" for an IP address
	dialers []*net.Dialer
	shards  [numShards]shard
	subs    []subscriber

	runWG    sync.WaitGroup // subscriber goroutines
	readyWG  sync.WaitGroup // launched subscribers that have not yet signalled
	launched atomic.Int64
	readyN   atomic.Int64 // subscribers that received their first connected event
	failN    atomic.Int64 // subscribers that gave up before that

	logged atomic.Int64 // error lines written to stderr
}

// maxErrorLogs bounds the number of per-connection errors written to stderr.
const maxErrorLogs = 10

// logf writes one of the first maxErrorLogs error messages to stderr.
func (sw *swarm) logf(format string, args ...any) {
	n := sw.logged.Add(1)
	if n <= maxErrorLogs {
		fmt.Fprintf(os.Stderr, "ssebench: "+format+"\n", args...)
	}
	if n == maxErrorLogs {
		fmt.Fprintln(os.Stderr, "ssebench: further subscriber errors are counted but not logged")
	}
}

// newSwarm prepares (but does not start) cfg.subscribers subscribers.
func newSwarm(cfg *config, tg *target) *swarm {
	sw := &swarm{cfg: cfg, addr: tg.subAddr, url: tg.subURL, tls: tg.tls, sni: tg.sni}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", tg.subPath, tg.subHost)
	b.WriteString("Accept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: ssebench\r\n")
	sw.reqHead = b.Bytes()

	if ip4 := tg.subIP.To4(); ip4 == nil {
		// IPv6 loopback has a single address: no source spreading.
		sw.dialers = []*net.Dialer{{Timeout: cfg.connectTimeout, KeepAlive: -1, Control: loopbackControl(false)}}
	} else {
		for j := 1; j <= cfg.sourceIPs; j++ {
			sw.dialers = append(sw.dialers, &net.Dialer{
				Timeout:   cfg.connectTimeout,
				KeepAlive: -1,
				LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(j))},
				Control:   loopbackControl(true),
			})
		}
	}

	sw.subs = make([]subscriber, cfg.subscribers)
	for i := range sw.subs {
		s := &sw.subs[i]
		s.sw = sw
		s.id = i
		s.dialer = sw.dialers[i%len(sw.dialers)]
		s.sh = &sw.shards[i%numShards]
		s.parser.init(s)
		s.out = s.parser.feed
	}
	return sw
}

// loopbackControl returns a net.Dialer Control function that refuses any
// remote address outside 127.0.0.0/8 and ::1, and optionally sets
// IP_BIND_ADDRESS_NO_PORT on IPv4 sockets (used with a source address).
func loopbackControl(bindNoPort bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("refusing to connect to non-loopback address %s", address)
		}
		if bindNoPort && network == "tcp4" {
			// Best effort: without it, bind picks a port per source address.
			_ = c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			})
		}
		return nil
	}
}

// start launches the subscribers at cfg.connectRate per second (all at once
// if the rate is 0) and waits until each has received its connected event
// or given up. It returns false if ctx ended first. Subscribers run under
// subCtx.
func (sw *swarm) start(ctx, subCtx context.Context) bool {
	n := int64(len(sw.subs))
	rate := sw.cfg.connectRate
	begin := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sw.launched.Load() < n {
		due := n
		if rate > 0 {
			due = min(n, int64(time.Since(begin).Seconds()*rate)+1)
		}
		for i := sw.launched.Load(); i < due; i++ {
			sw.readyWG.Add(1)
			sw.runWG.Add(1)
			go sw.subs[i].run(subCtx)
			sw.launched.Store(i + 1)
		}
		if sw.launched.Load() == n {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
	done := make(chan struct{})
	go func() {
		sw.readyWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// wait waits up to d for all subscriber goroutines to return (after their
// context was cancelled) and reports whether they did.
func (sw *swarm) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		sw.runWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// deliveries returns the live number of data events received so far.
func (sw *swarm) deliveries() uint64 {
	var n uint64
	for i := range sw.shards {
		n += sw.shards[i].deliveries.Load()
	}
	return n
}

// unique returns the live number of distinct (subscriber, seq) pairs.
func (sw *swarm) unique() uint64 {
	var n uint64
	for i := range sw.shards {
		n += sw.shards[i].unique.Load()
	}
	return n
}

// latency merges the shard histograms.
func (sw *swarm) latency() *histogram {
	h := new(histogram)
	for i := range sw.shards {
		h.merge(&sw.shards[i].lat)
	}
	return h
}

// subscriber is one simulated EventSource. All fields are owned by its
// goroutine; the tallies are read by main after swarm.wait.
type subscriber struct {
	sw     *swarm
	id     int
	dialer *net.Dialer
	sh     *shard
	out    func([]byte) // parser.feed, bound once
	br     *bufio.Reader
	conn   net.Conn
	parser sseParser
	seqs   seqSet

	signaled bool  // readiness reported to the swarm
	ready    bool  // first connected event received
	failErr  error // why the first connection failed
	onConn   int   // data events on the current connection
	closeNow bool  // -reconnect-every reached on this connection

	connectedHere bool // connected event received on the current connection

	proto    string // protocol of the last response (net/http path)
	encoding string // its Content-Encoding
	buf      []byte // read buffer of the net/http path

	readAt int64     // when the bytes being parsed were read, in Unix nanoseconds
	pend   readTally // what the bytes being parsed held, for the shard

	deliveries      uint64 // data events (with a seq) received
	duplicates      uint64 // data events whose seq was already received
	reconnects      uint64 // connected events after the first one
	reconnectErrors uint64 // failed reconnection attempts
	disconnects     uint64 // streams ended by the server or an I/O error
	resets          uint64 // reset events
	heartbeats      uint64 // comment lines
	foreign         uint64 // events that are neither connected, reset nor benchmark data
}

// sessionEnd says how a connection attempt ended.
type sessionEnd int

const (
	endFailed  sessionEnd = iota // no event stream: dial, request or response failed
	endPlanned                   // closed by us after -reconnect-every events
	endStream                    // stream ended by the server, an I/O error or a timeout
)

// signal reports readiness (or failure) to the swarm once.
func (s *subscriber) signal(ok bool) {
	if s.signaled {
		return
	}
	s.signaled = true
	if ok {
		s.sw.readyN.Add(1)
	} else {
		s.sw.failN.Add(1)
	}
	s.sw.readyWG.Done()
}

// run connects, reads and reconnects until ctx ends or the first connection
// fails.
func (s *subscriber) run(ctx context.Context) {
	defer s.sw.runWG.Done()
	defer s.signal(false) // no-op once ready
	failures := 0
	for {
		end, err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if !s.ready {
			if err == nil {
				err = errors.New("stream ended before the connected event")
			}
			s.failErr = err
			s.sw.logf("subscriber %d: %v", s.id, err)
			return
		}
		var delay time.Duration
		switch end {
		case endPlanned:
			failures = 0
			continue
		case endStream:
			failures = 0
			s.disconnects++
			delay = s.retryDelay()
		case endFailed:
			failures++
			s.reconnectErrors++
			s.sw.logf("subscriber %d: reconnect: %v", s.id, err)
			delay = min(max(s.retryDelay(), 100*time.Millisecond)<<min(failures-1, 4), maxRetry)
		}
		if !sleepCtx(ctx, delay) {
			return
		}
	}
}

// retryDelay is the server's retry field, or defaultRetry.
func (s *subscriber) retryDelay() time.Duration {
	if r := s.parser.retry; r >= 0 {
		return time.Duration(r) * time.Millisecond
	}
	return defaultRetry
}

// sleepCtx sleeps for d and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// request builds the GET request, with Last-Event-ID when resuming.
func (s *subscriber) request() []byte {
	id := s.parser.lastID
	b := make([]byte, 0, len(s.sw.reqHead)+len(id)+20)
	b = append(b, s.sw.reqHead...)
	if len(id) > 0 {
		b = append(b, "Last-Event-ID: "...)
		b = append(b, id...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// session makes one connection and reads its event stream until it ends.
func (s *subscriber) session(ctx context.Context) (sessionEnd, error) {
	if s.sw.cfg.useHTTPClient() {
		return s.httpSession(ctx)
	}
	cto := s.sw.cfg.connectTimeout
	conn, err := s.dialer.DialContext(ctx, "tcp", s.sw.addr)
	if err != nil {
		return endFailed, err
	}
	if s.sw.tls {
		conn.SetDeadline(time.Now().Add(cto))
		tc, err := s.dialTLS(conn)
		if err != nil {
			conn.Close()
			return endFailed, err
		}
		conn = tc
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		stop()
		conn.Close()
		s.conn = nil
	}()
	s.conn = conn
	// Until the connected event arrives, the whole handshake is bounded.
	conn.SetDeadline(time.Now().Add(cto))
	if _, err := conn.Write(s.request()); err != nil {
		return endFailed, err
	}
	if s.br == nil {
		s.br = bufio.NewReaderSize(conn, s.sw.cfg.readBuffer)
	} else {
		s.br.Reset(conn)
	}
	h, err := readResponseHead(s.br)
	if err != nil {
		return endFailed, err
	}
	body := h.decoder()
	if h.status != 200 {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		return endFailed, fmt.Errorf("HTTP %d: %s", h.status, readBody(s.br, body, h, 300))
	}
	if ct := strings.ToLower(h.contentType); !strings.HasPrefix(ct, "text/event-stream") {
		return endFailed, fmt.Errorf("unexpected Content-Type %q", h.contentType)
	}
	s.parser.reset()
	s.onConn = 0
	s.closeNow = false
	s.connectedHere = false
	for {
		if s.br.Buffered() == 0 {
			if _, err := s.br.Peek(1); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() && !s.connectedHere {
					err = fmt.Errorf("no connected event within -connect-timeout %v: %w", cto, err)
				}
				return endStream, err
			}
		}
		p, _ := s.br.Peek(s.br.Buffered())
		s.readAt = time.Now().UnixNano()
		err := body.feed(p, s.out)
		s.flush()
		s.br.Discard(len(p))
		if s.closeNow {
			return endPlanned, nil
		}
		if err != nil {
			if err == io.EOF {
				return endStream, nil // the server completed the response
			}
			return endStream, err
		}
	}
}

// readBody returns up to max bytes of a (short) response body, for error
// messages.
func readBody(br *bufio.Reader, d bodyDecoder, h *responseHead, max int) []byte {
	var out []byte
	if !h.chunked && h.length == 0 {
		return out
	}
	collect := func(p []byte) {
		if room := max - len(out); room > 0 {
			out = append(out, p[:min(len(p), room)]...)
		}
	}
	for len(out) < max {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				break
			}
		}
		p, _ := br.Peek(br.Buffered())
		err := d.feed(p, collect)
		br.Discard(len(p))
		if err != nil {
			break
		}
	}
	return bytes.TrimSpace(out)
}

// onEvent implements eventHandler.
func (s *subscriber) onEvent(name, data []byte) {
	switch string(name) {
	case "connected":
		s.connectedHere = true
		if s.conn != nil {
			s.conn.SetDeadline(time.Time{})
		}
		if s.ready {
			s.reconnects++
		} else {
			s.ready = true
			s.signal(true)
		}
		return
	case "reset":
		s.resets++
		return
	}
	seq, ts, ok := parseSeqTS(data)
	if !ok || seq == 0 || seq >= math.MaxUint32 {
		s.foreign++
		return
	}
	lat := max(s.readAt-int64(ts), 0) / 1000
	s.deliveries++
	s.pend.deliveries++
	if s.seqs.add(uint32(seq)) {
		s.pend.unique++
	} else {
		s.duplicates++
	}
	t := &s.pend
	if t.latN > 0 && uint64(lat) != t.lat {
		s.sh.lat.recordN(t.lat, t.latN)
		t.latN = 0
	}
	t.lat = uint64(lat)
	t.latN++
	s.onConn++
	if n := s.sw.cfg.reconnectEvery; n > 0 && s.onConn >= n {
		s.closeNow = true
	}
}

// readTally is what a subscriber received since its last flush: counts, and
// the latest run of deliveries of equal latency (in microseconds).
type readTally struct {
	deliveries, unique uint64
	lat, latN          uint64
}

// flush adds the tally to the subscriber's shard and clears it; it runs
// after each read's bytes are parsed.
func (s *subscriber) flush() {
	t := &s.pend
	if t.deliveries > 0 {
		s.sh.deliveries.Add(t.deliveries)
	}
	if t.unique > 0 {
		s.sh.unique.Add(t.unique)
	}
	if t.latN > 0 {
		s.sh.lat.recordN(t.lat, t.latN)
	}
	*t = readTally{}
}

// onComment implements eventHandler.
func (s *subscriber) onComment([]byte) {
	s.heartbeats++
}
