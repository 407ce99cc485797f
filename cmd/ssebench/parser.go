package main

// This file holds the byte-level decoders used by the subscriber side: the
// HTTP/1.1 response head parser, the chunked transfer-coding decoder, the
// plain (identity) body decoder and the Server-Sent Events line parser.
//
// The body decoders and the SSE parser are push parsers: they are fed
// whatever bytes the socket produced and hand on sub-slices of that input,
// so the common path neither copies nor allocates. Only a line that is split
// across two reads is copied into a small carry buffer that is reused.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// errChunkSyntax reports a malformed chunked transfer coding.
var errChunkSyntax = errors.New("malformed chunked transfer coding")

// bodyDecoder turns raw response body bytes into payload bytes.
type bodyDecoder interface {
	// feed consumes all of in and passes decoded payload bytes to out, in
	// order, possibly in several pieces. It returns io.EOF once the body is
	// complete (bytes after the end are ignored) and another error if the
	// framing is invalid.
	feed(in []byte, out func([]byte)) error
}

// States of chunkDecoder.
const (
	csSize        = iota // reading hex digits of a chunk size
	csSizeExt            // skipping a chunk extension up to LF
	csSizeLF             // saw CR after the size line, expecting LF
	csData               // inside chunk data
	csDataCR             // expecting CR (or bare LF) after chunk data
	csDataLF             // expecting LF after chunk data
	csTrailer            // at the start of a trailer line
	csTrailerLine        // inside a trailer field line
	csTrailerLF          // saw CR of the final empty line, expecting LF
	csDone               // last chunk and trailer consumed
)

// chunkDecoder decodes "Transfer-Encoding: chunked" incrementally (RFC 9112
// section 7.1). Bare LF line endings are tolerated. The zero value is ready
// to use.
type chunkDecoder struct {
	state  int
	size   uint64 // size being parsed, then bytes left in the current chunk
	digits int
}

// hexVal returns the value of a hexadecimal digit or -1.
func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// endSizeLine finishes a chunk-size line.
func (d *chunkDecoder) endSizeLine() error {
	if d.digits == 0 {
		return errChunkSyntax
	}
	if d.size == 0 {
		d.state = csTrailer
	} else {
		d.state = csData
	}
	return nil
}

// feed implements bodyDecoder.
func (d *chunkDecoder) feed(in []byte, out func([]byte)) error {
	for len(in) > 0 {
		switch d.state {
		case csData:
			n := uint64(len(in))
			if n > d.size {
				n = d.size
			}
			out(in[:n])
			in = in[n:]
			d.size -= n
			if d.size == 0 {
				d.state = csDataCR
			}
			continue
		case csDone:
			return io.EOF
		}
		c := in[0]
		in = in[1:]
		switch d.state {
		case csSize:
			if v := hexVal(c); v >= 0 {
				if d.digits == 15 { // far beyond any sane chunk
					return errChunkSyntax
				}
				d.size = d.size<<4 | uint64(v)
				d.digits++
				continue
			}
			switch c {
			case ';', ' ', '\t':
				if d.digits == 0 {
					return errChunkSyntax
				}
				d.state = csSizeExt
			case '\r':
				d.state = csSizeLF
			case '\n':
				if err := d.endSizeLine(); err != nil {
					return err
				}
			default:
				return errChunkSyntax
			}
		case csSizeExt:
			if c == '\n' {
				if err := d.endSizeLine(); err != nil {
					return err
				}
			}
		case csSizeLF:
			if c != '\n' {
				return errChunkSyntax
			}
			if err := d.endSizeLine(); err != nil {
				return err
			}
		case csDataCR:
			switch c {
			case '\r':
				d.state = csDataLF
			case '\n':
				d.state, d.size, d.digits = csSize, 0, 0
			default:
				return errChunkSyntax
			}
		case csDataLF:
			if c != '\n' {
				return errChunkSyntax
			}
			d.state, d.size, d.digits = csSize, 0, 0
		case csTrailer:
			switch c {
			case '\r':
				d.state = csTrailerLF
			case '\n':
				d.state = csDone
			default:
				d.state = csTrailerLine
			}
		case csTrailerLine:
			if c == '\n' {
				d.state = csTrailer
			}
		case csTrailerLF:
			if c != '\n' {
				return errChunkSyntax
			}
			d.state = csDone
		}
	}
	if d.state == csDone {
		return io.EOF
	}
	return nil
}

// plainBody is the identity body decoder: the body runs to the end of the
// connection (remaining < 0) or for a Content-Length number of bytes.
type plainBody struct {
	remaining int64
}

// feed implements bodyDecoder.
func (p *plainBody) feed(in []byte, out func([]byte)) error {
	if p.remaining < 0 {
		if len(in) > 0 {
			out(in)
		}
		return nil
	}
	if int64(len(in)) > p.remaining {
		in = in[:p.remaining]
	}
	if len(in) > 0 {
		out(in)
	}
	p.remaining -= int64(len(in))
	if p.remaining == 0 {
		return io.EOF
	}
	return nil
}

// responseHead is what the subscriber needs from an HTTP response head.
type responseHead struct {
	status      int
	contentType string
	chunked     bool
	length      int64 // Content-Length, or -1 when absent
}

// decoder returns a fresh body decoder for the response framing.
func (h *responseHead) decoder() bodyDecoder {
	if h.chunked {
		return &chunkDecoder{}
	}
	return &plainBody{remaining: h.length}
}

// trimEOL removes a trailing LF and an optional CR before it.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// readResponseHead parses an HTTP/1.x status line and header block from br,
// leaving br positioned at the first body byte. Interim 1xx responses are
// skipped.
func readResponseHead(br *bufio.Reader) (*responseHead, error) {
	for {
		h, err := readOneHead(br)
		if err != nil || h.status >= 200 || h.status == 101 {
			return h, err
		}
	}
}

func readOneHead(br *bufio.Reader) (*responseHead, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("reading status line: %w", err)
	}
	line = trimEOL(line)
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return nil, fmt.Errorf("malformed status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 || (len(line) > 12 && line[12] != ' ') {
		return nil, fmt.Errorf("malformed status line %q", line)
	}
	h := &responseHead{status: status, length: -1}
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("reading response header: %w", err)
		}
		line = trimEOL(line)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, fmt.Errorf("malformed header line %q", line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
				h.chunked = true
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("malformed Content-Length %q", value)
			}
			h.length = n
		case bytes.EqualFold(name, []byte("Content-Type")):
			h.contentType = string(value)
		}
	}
	if h.chunked {
		h.length = -1 // Transfer-Encoding overrides Content-Length
	}
	if h.status == 204 || h.status == 304 || (h.status >= 100 && h.status < 200) {
		h.length = 0
		h.chunked = false
	}
	return h, nil
}

// eventHandler receives what sseParser finds.
type eventHandler interface {
	// onEvent is called for each dispatched event. name is "message" when
	// the event had no event field. Both slices are only valid during the
	// call.
	onEvent(name, data []byte)
	// onComment is called for each comment line (one starting with ':'),
	// without the colon. Hubs use these as heartbeats.
	onComment(text []byte)
}

var (
	seqKey      = []byte("seq")
	seqPrefix   = []byte(`{"seq":`)
	tsInfix     = []byte(`,"ts":`)
	tsKey       = []byte("ts")
	messageName = []byte("message")
	utf8BOM     = []byte("\xef\xbb\xbf")
)

// sseParser is an incremental text/event-stream parser following the WHATWG
// HTML "event stream interpretation" rules: CRLF, LF and CR line endings,
// comments, field/value split at the first colon with one optional space
// removed, multi-line data joined with LF, an id containing NUL ignored, a
// numeric retry field, and dispatch on an empty line (an event without any
// data field is not dispatched but still commits the last event ID).
type sseParser struct {
	h eventHandler

	carry   []byte // beginning of a line that continues in the next feed
	skipLF  bool   // last feed ended with CR: a leading LF belongs to it
	started bool   // first byte seen (for BOM stripping)

	data    []byte
	hasData bool
	event   []byte
	idBuf   []byte // the "last event ID buffer"

	// lastID is the last event ID string: idBuf as of the last dispatch.
	// It survives reset and is what a reconnect sends as Last-Event-ID.
	lastID []byte
	// retry is the last retry field in milliseconds, or -1 if none seen.
	retry int64
}

// newSSEParser returns a parser that reports to h.
func newSSEParser(h eventHandler) *sseParser {
	p := &sseParser{}
	p.init(h)
	return p
}

// init prepares a zero parser embedded in another struct.
func (p *sseParser) init(h eventHandler) {
	p.h = h
	p.retry = -1
}

// reset prepares the parser for a new stream, discarding any partial line
// or event but keeping lastID and retry as a reconnecting EventSource does.
// An id field of an event that was never completed is dropped too, so that
// an id-less event on the new stream (such as "connected") cannot commit an
// id whose event this client never received.
func (p *sseParser) reset() {
	p.idBuf = append(p.idBuf[:0], p.lastID...)
	p.carry = p.carry[:0]
	p.skipLF = false
	p.started = false
	p.data = p.data[:0]
	p.hasData = false
	p.event = p.event[:0]
}

// feed parses the next piece of the stream.
func (p *sseParser) feed(b []byte) {
	if !p.started && len(b) > 0 {
		p.started = true
		if bytes.HasPrefix(b, utf8BOM) {
			b = b[len(utf8BOM):]
		}
	}
	for len(b) > 0 {
		if p.skipLF {
			p.skipLF = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		nl := bytes.IndexByte(b, '\n')
		seg := b
		if nl >= 0 {
			seg = b[:nl]
		}
		var line, rest []byte
		if cr := bytes.IndexByte(seg, '\r'); cr >= 0 {
			line = b[:cr]
			switch {
			case cr+1 == len(b):
				p.skipLF = true
			case b[cr+1] == '\n':
				rest = b[cr+2:]
			default:
				rest = b[cr+1:]
			}
		} else if nl >= 0 {
			line, rest = b[:nl], b[nl+1:]
		} else {
			p.carry = append(p.carry, b...)
			return
		}
		if len(p.carry) > 0 {
			p.carry = append(p.carry, line...)
			p.line(p.carry)
			p.carry = p.carry[:0]
		} else {
			p.line(line)
		}
		b = rest
	}
}

// line interprets one complete line (without its terminator).
func (p *sseParser) line(l []byte) {
	if len(l) == 0 {
		p.dispatch()
		return
	}
	if l[0] == ':' {
		p.h.onComment(l[1:])
		return
	}
	var field, value []byte
	if colon := bytes.IndexByte(l, ':'); colon >= 0 {
		field, value = l[:colon], l[colon+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	} else {
		field = l
	}
	switch string(field) {
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		p.event = append(p.event[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.idBuf = append(p.idBuf[:0], value...)
		}
	case "retry":
		if n, ok := parseDigits(value); ok {
			p.retry = n
		}
	}
}

// dispatch handles the empty line that ends an event.
func (p *sseParser) dispatch() {
	p.lastID = append(p.lastID[:0], p.idBuf...)
	if !p.hasData {
		p.event = p.event[:0]
		return
	}
	name := p.event
	if len(name) == 0 {
		name = messageName
	}
	p.h.onEvent(name, p.data)
	p.data = p.data[:0]
	p.hasData = false
	p.event = p.event[:0]
}

// parseDigits parses a non-empty run of ASCII digits (at most 18 of them).
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseSeqTS extracts the "seq" and "ts" numbers from the data of a
// benchmark event, {"seq":<n>,"ts":<unix ns>,"pad":"..."}, without decoding
// the JSON. It tolerates whitespace around the colon and a JSON-escaped
// rendering (\"seq\":1) in case a hub re-encodes the data as a string.
func parseSeqTS(data []byte) (seq, ts uint64, ok bool) {
	if seq, ts, ok = parseSeqTSExact(data); ok {
		return seq, ts, true
	}
	return scanSeqTS(data)
}

// parseSeqTSExact is parseSeqTS for the data exactly as ssebench publishes
// it, {"seq":<n>,"ts":<n>...: the fast path, with the same result as
// scanSeqTS whenever it reports ok.
func parseSeqTSExact(data []byte) (seq, ts uint64, ok bool) {
	rest, ok := bytes.CutPrefix(data, seqPrefix)
	if !ok {
		return 0, 0, false
	}
	if seq, rest, ok = leadingNumber(rest); !ok {
		return 0, 0, false
	}
	if rest, ok = bytes.CutPrefix(rest, tsInfix); !ok {
		return 0, 0, false
	}
	ts, _, ok = leadingNumber(rest)
	return seq, ts, ok
}

// leadingNumber parses the decimal digits b starts with (at most 19 of
// them, as numberAfterKey does) and returns the bytes after them.
func leadingNumber(b []byte) (uint64, []byte, bool) {
	var v uint64
	j := 0
	for j < len(b) && j < 19 && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + uint64(b[j]-'0')
		j++
	}
	return v, b[j:], j > 0
}

// scanSeqTS is parseSeqTS for any rendering: it looks for each key.
func scanSeqTS(data []byte) (seq, ts uint64, ok bool) {
	seq, rest, ok := numberAfterKey(data, seqKey)
	if !ok {
		return 0, 0, false
	}
	ts, _, ok = numberAfterKey(rest, tsKey)
	if !ok {
		return 0, 0, false
	}
	return seq, ts, true
}

// numberAfterKey finds the first quoted key in b that is followed by a colon
// and a decimal number, and returns the number and the bytes after it.
func numberAfterKey(b, key []byte) (uint64, []byte, bool) {
	for {
		i := bytes.Index(b, key)
		if i < 0 {
			return 0, nil, false
		}
		quoted := i > 0 && b[i-1] == '"'
		b = b[i+len(key):]
		if !quoted {
			continue
		}
		j := 0
		if j < len(b) && b[j] == '\\' {
			j++
		}
		if j >= len(b) || b[j] != '"' {
			continue
		}
		j++
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if j >= len(b) || b[j] != ':' {
			continue
		}
		j++
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		start := j
		var v uint64
		for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-start < 19 {
			v = v*10 + uint64(b[j]-'0')
			j++
		}
		if j == start {
			continue
		}
		return v, b[j:], true
	}
}
