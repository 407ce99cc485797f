package main

// This file holds the subscriber's net/http path, used for HTTP/2, HTTP/3
// (quic-go's client) and for compressed streams: each subscriber has its own http.Transport, so it has
// its own TCP (and TLS) connection, as one browser per client would; nothing
// is pooled or shared between subscribers. The body is decoded according to
// its Content-Encoding (gzip or zstd) before the SSE parser sees it, so
// counts and latencies are those of the events. Plain or TLS HTTP/1.1
// without compression stays on the raw path of subscriber.go.

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// clientTLS is the TLS configuration of subscribers and publishers. The
// certificate is not verified: targets are loopback addresses only (checked
// before any dial), served by Caddy's internal CA or a self-signed
// certificate. nextProtos is the ALPN offer.
func clientTLS(serverName string, nextProtos ...string) *tls.Config {
	return &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // loopback only, see above
		NextProtos:         nextProtos,
		MinVersion:         tls.VersionTLS12,
	}
}

// useHTTPClient reports whether subscribers take the net/http path.
func (cfg *config) useHTTPClient() bool {
	return cfg.proto != "h1" || cfg.compress != ""
}

// dialTLS wraps a dialed connection of the raw path in TLS, offering only
// HTTP/1.1, and completes the handshake (bounded by conn's deadline).
func (s *subscriber) dialTLS(conn net.Conn) (net.Conn, error) {
	tc := tls.Client(conn, clientTLS(s.sw.sni, "http/1.1"))
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// newTransport returns the subscriber's own transport: one connection,
// never shared, never kept after the stream ends, no transparent
// decompression (the body is decoded here, by its Content-Encoding).
func (s *subscriber) newTransport() *http.Transport {
	var protos http.Protocols
	if s.sw.cfg.proto == "h2" {
		protos.SetHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	addr := s.sw.addr
	tr := &http.Transport{
		Proxy: nil, // never send benchmark traffic to a proxy
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			conn, err := s.dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds TLS handshake, request, response and the connected
			// event; onEvent clears it.
			conn.SetDeadline(time.Now().Add(s.sw.cfg.connectTimeout))
			s.conn = conn
			return conn, nil
		},
		Protocols:          &protos,
		DisableKeepAlives:  true,
		DisableCompression: true,
		MaxConnsPerHost:    1,
	}
	if s.sw.tls {
		tr.TLSClientConfig = clientTLS(s.sw.sni)
	}
	return tr
}

// newRoundTripper returns the subscriber's own transport for -proto, and
// the function that closes its connection.
func (s *subscriber) newRoundTripper() (http.RoundTripper, func()) {
	if s.sw.cfg.proto != "h3" {
		tr := s.newTransport()
		return tr, tr.CloseIdleConnections
	}
	addr := s.sw.addr // checked to be loopback
	tr := &http3.Transport{
		TLSClientConfig:    clientTLS(s.sw.sni),
		DisableCompression: true,
		// Its own UDP socket and QUIC connection per subscriber.
		Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
			return quic.DialAddrEarly(ctx, addr, tlsCfg, cfg)
		},
	}
	return tr, func() { tr.Close() }
}

// httpSession is session over net/http: one request on a fresh transport,
// its body decoded and fed to the SSE parser until the stream ends.
func (s *subscriber) httpSession(ctx context.Context) (sessionEnd, error) {
	cto := s.sw.cfg.connectTimeout
	rt, closeRT := s.newRoundTripper()
	defer closeRT()
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() { s.conn = nil }()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, s.sw.url, nil)
	if err != nil {
		return endFailed, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", "ssebench")
	if ae := s.sw.cfg.compress; ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	}
	if id := s.parser.lastID; len(id) > 0 {
		req.Header.Set("Last-Event-ID", string(id))
	}
	// The connection's deadline bounds the handshake only from the dial on.
	handshake := time.AfterFunc(cto, cancel)
	resp, err := rt.RoundTrip(req)
	handshake.Stop()
	if err != nil {
		return endFailed, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return endFailed, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if ct := strings.ToLower(resp.Header.Get("Content-Type")); !strings.HasPrefix(ct, "text/event-stream") {
		return endFailed, fmt.Errorf("unexpected Content-Type %q", resp.Header.Get("Content-Type"))
	}
	s.proto = resp.Proto
	s.encoding = resp.Header.Get("Content-Encoding")
	body, closeBody, err := decodeBody(resp.Body, s.encoding)
	if err != nil {
		return endFailed, err
	}
	defer closeBody()

	s.parser.reset()
	s.onConn = 0
	s.closeNow = false
	s.connectedHere = false
	if s.buf == nil {
		s.buf = make([]byte, s.sw.cfg.readBuffer)
	}
	for {
		n, err := body.Read(s.buf)
		if n > 0 {
			s.readAt = time.Now().UnixNano()
			s.parser.feed(s.buf[:n])
			s.flush()
			if s.closeNow {
				return endPlanned, nil
			}
		}
		if err == io.EOF {
			return endStream, nil // the server completed the response
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !s.connectedHere {
				err = fmt.Errorf("no connected event within -connect-timeout %v: %w", cto, err)
			}
			return endStream, err
		}
	}
}

// decodeBody returns a reader of the decoded body for a Content-Encoding
// of "", gzip or zstd, and the function that releases the decoder. A gzip
// header is read here, so it is bounded by the connection's deadline.
func decodeBody(body io.Reader, encoding string) (io.Reader, func(), error) {
	switch strings.ToLower(encoding) {
	case "", "identity":
		return body, func() {}, nil
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip stream: %w", err)
		}
		zr.Multistream(true)
		return zr, func() { zr.Close() }, nil
	case "zstd":
		// Synchronous decoding hands on each block as it arrives.
		zr, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd stream: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nil, fmt.Errorf("unsupported Content-Encoding %q", encoding)
}

// tallyTransport counts, in res, the protocol and Content-Encoding of the
// last stream of every connected subscriber, so a run shows that it
// measured what it asked for (e.g. that encode really compressed, or that
// no-transform kept it from doing so).
func tallyTransport(res *result, sw *swarm) {
	for i := range sw.subs[:sw.launched.Load()] {
		s := &sw.subs[i]
		if !s.ready {
			continue
		}
		proto := s.proto
		if proto == "" {
			proto = "HTTP/1.1" // the raw path
		}
		if res.Protocols == nil {
			res.Protocols = map[string]int{}
			res.ContentEncodings = map[string]int{}
		}
		res.Protocols[proto]++
		enc := s.encoding
		if enc == "" {
			enc = "identity"
		}
		res.ContentEncodings[enc]++
	}
}

// serverName is the TLS server name for a URL host: none for an IP
// address, which Caddy and Go's server answer with their IP certificate.
func serverName(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}
