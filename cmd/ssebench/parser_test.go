package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// splits returns the ways a test feeds input: whole, byte by byte, and
// split in two at every position.
func splits(in string) [][]string {
	out := [][]string{{in}}
	var bytewise []string
	for i := range len(in) {
		bytewise = append(bytewise, in[i:i+1])
	}
	out = append(out, bytewise)
	for i := 1; i < len(in); i++ {
		out = append(out, []string{in[:i], in[i:]})
	}
	return out
}

func TestChunkDecoder(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error // io.EOF when the body is complete
	}{
		{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", io.EOF},
		{"extension", "5;name=value\r\nhello\r\n0\r\n\r\n", "hello", io.EOF},
		{"upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", io.EOF},
		{"lower hex", "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz", io.EOF},
		{"bare LF", "3\nabc\n0\n\n", "abc", io.EOF},
		{"trailer", "3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", "abc", io.EOF},
		{"data after end ignored", "1\r\na\r\n0\r\n\r\nGARBAGE", "a", io.EOF},
		{"open stream", "3\r\nabc\r\n4\r\nde", "abcde", nil},
		{"CRLF inside data", "4\r\n\r\n\r\n\r\n", "\r\n\r\n", nil},
		{"not hex", "zz\r\n", "", errChunkSyntax},
		{"no digits", "\r\nabc", "", errChunkSyntax},
		{"data overrun", "3\r\nabcd\r\n", "abc", errChunkSyntax},
		{"too large", "1000000000000000\r\n", "", errChunkSyntax},
	}
	for _, tt := range tests {
		for _, parts := range splits(tt.in) {
			var d chunkDecoder
			var got []byte
			var err error
			for _, p := range parts {
				if err = d.feed([]byte(p), func(b []byte) { got = append(got, b...) }); err != nil {
					break
				}
			}
			if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("%s, parts %q: got %q, %v; want %q, %v", tt.name, parts, got, err, tt.want, tt.wantErr)
				break
			}
		}
	}
}

func TestPlainBody(t *testing.T) {
	tests := []struct {
		name      string
		remaining int64
		in        []string
		want      string
		wantEOF   bool
	}{
		{"until close", -1, []string{"abc", "def"}, "abcdef", false},
		{"content length", 4, []string{"ab", "cdef"}, "abcd", true},
		{"exact", 3, []string{"abc"}, "abc", true},
		{"short", 10, []string{"abc"}, "abc", false},
	}
	for _, tt := range tests {
		p := &plainBody{remaining: tt.remaining}
		var got []byte
		var err error
		for _, s := range tt.in {
			if err = p.feed([]byte(s), func(b []byte) { got = append(got, b...) }); err != nil {
				break
			}
		}
		if string(got) != tt.want || (err == io.EOF) != tt.wantEOF {
			t.Errorf("%s: got %q, %v", tt.name, got, err)
		}
	}
}

func TestReadResponseHead(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    responseHead
		wantErr bool
		body    string // what follows the head
	}{
		{
			name: "chunked stream",
			in:   "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n",
			want: responseHead{status: 200, contentType: "text/event-stream", chunked: true, length: -1},
			body: "5\r\n",
		},
		{
			name: "case and spacing",
			in:   "HTTP/1.1 200 OK\ncontent-type:text/event-stream; charset=utf-8\ntransfer-encoding:  Chunked \n\n",
			want: responseHead{status: 200, contentType: "text/event-stream; charset=utf-8", chunked: true, length: -1},
		},
		{
			name: "content length",
			in:   "HTTP/1.1 404 Not Found\r\nContent-Length: 17\r\n\r\n{\"error\":\"nope\"}",
			want: responseHead{status: 404, length: 17},
			body: "{\"error\":\"nope\"}",
		},
		{
			name: "plain until close",
			in:   "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n",
			want: responseHead{status: 200, contentType: "text/event-stream", length: -1},
			body: "data: x\n\n",
		},
		{
			name: "interim response skipped",
			in:   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			want: responseHead{status: 200, length: 2},
			body: "ok",
		},
		{name: "no reason phrase", in: "HTTP/1.1 204\r\n\r\n", want: responseHead{status: 204, length: 0}},
		{name: "not http", in: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: true},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: true},
		{name: "bad header", in: "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", wantErr: true},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: true},
		{name: "truncated", in: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", wantErr: true},
	}
	for _, tt := range tests {
		br := bufio.NewReaderSize(strings.NewReader(tt.in), 128)
		h, err := readResponseHead(br)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if *h != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, *h, tt.want)
		}
		rest, _ := io.ReadAll(br)
		if string(rest) != tt.body {
			t.Errorf("%s: body %q, want %q", tt.name, rest, tt.body)
		}
	}
}

// recorder is an eventHandler that keeps everything.
type recorder struct {
	events   []string // "name|data"
	comments []string
}

func (r *recorder) onEvent(name, data []byte) {
	r.events = append(r.events, string(name)+"|"+string(data))
}

func (r *recorder) onComment(text []byte) { r.comments = append(r.comments, string(text)) }

func TestSSEParser(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		events   []string
		comments []string
		lastID   string
		retry    int64
	}{
		{name: "message", in: "data: hello\n\n", events: []string{"message|hello"}, retry: -1},
		{
			name:   "connected event",
			in:     "event: connected\ndata: {\"connection\":\"c1\",\"topics\":[\"bench\"]}\n\n",
			events: []string{`connected|{"connection":"c1","topics":["bench"]}`}, retry: -1,
		},
		{
			name:   "CRLF multi-line data with id",
			in:     "id: 1\r\ndata: a\r\ndata: b\r\n\r\n",
			events: []string{"message|a\nb"}, lastID: "1", retry: -1,
		},
		{
			name:   "CR line endings",
			in:     "data: x\rid: 7\r\rdata: y\r\r",
			events: []string{"message|x", "message|y"}, lastID: "7", retry: -1,
		},
		{
			name:   "mixed line endings",
			in:     "data: a\r\n\ndata: b\n\r",
			events: []string{"message|a", "message|b"}, retry: -1,
		},
		{
			name:     "heartbeat comments",
			in:       ": ping\n\n:\n: x: y\n",
			comments: []string{" ping", "", " x: y"}, retry: -1,
		},
		{
			name:   "colon spacing",
			in:     "data:x\n\ndata:  y\n\ndata\n\n",
			events: []string{"message|x", "message| y", "message|"}, retry: -1,
		},
		{
			name:   "id persists across events",
			in:     "id: 5\ndata: a\n\ndata: b\n\n",
			events: []string{"message|a", "message|b"}, lastID: "5", retry: -1,
		},
		{
			name:   "empty id clears",
			in:     "id: 5\ndata: a\n\nid\ndata: b\n\n",
			events: []string{"message|a", "message|b"}, lastID: "", retry: -1,
		},
		{
			name:   "id with NUL ignored",
			in:     "id: 3\ndata: a\n\nid: 4\x005\ndata: b\n\n",
			events: []string{"message|a", "message|b"}, lastID: "3", retry: -1,
		},
		{name: "retry", in: "retry: 1500\n\n", retry: 1500},
		{name: "bad retry ignored", in: "retry: 2000\n\nretry: 1.5\n\nretry: x\n\n", retry: 2000},
		{
			name:   "event without data commits id only",
			in:     "id: 9\nevent: foo\n\ndata: z\n\n",
			events: []string{"message|z"}, lastID: "9", retry: -1,
		},
		{
			name:   "named events and unknown fields",
			in:     "event: reset\nfoo: bar\ndata: {\"lastEventId\":\"1\",\"reason\":\"gone\"}\n\nevent: tick\ndata: 1\n\n",
			events: []string{`reset|{"lastEventId":"1","reason":"gone"}`, "tick|1"}, retry: -1,
		},
		{
			name:   "BOM stripped",
			in:     "\xef\xbb\xbfdata: a\n\n",
			events: []string{"message|a"}, retry: -1,
		},
		{
			name:   "unterminated event not dispatched",
			in:     "id: 1\ndata: a\n\nid: 2\ndata: b\n",
			events: []string{"message|a"}, lastID: "1", retry: -1,
		},
	}
	for _, tt := range tests {
		for _, parts := range splits(tt.in) {
			if strings.HasPrefix(tt.in, "\xef") && len(parts[0]) < 3 {
				continue // a BOM split across reads is not supported
			}
			r := &recorder{}
			p := newSSEParser(r)
			for _, s := range parts {
				p.feed([]byte(s))
			}
			if !reflect.DeepEqual(r.events, tt.events) || !reflect.DeepEqual(r.comments, tt.comments) ||
				string(p.lastID) != tt.lastID || p.retry != tt.retry {
				t.Errorf("%s, parts %q:\n got events %q comments %q lastID %q retry %d\nwant events %q comments %q lastID %q retry %d",
					tt.name, parts, r.events, r.comments, p.lastID, p.retry, tt.events, tt.comments, tt.lastID, tt.retry)
				break
			}
		}
	}
}

func TestSSEParserReset(t *testing.T) {
	r := &recorder{}
	p := newSSEParser(r)
	p.feed([]byte("retry: 100\nid: 42\ndata: a\n\nid: 43\ndata: partial"))
	p.reset() // connection dropped mid-event
	p.feed([]byte("data: b\n\n"))
	want := []string{"message|a", "message|b"}
	if !reflect.DeepEqual(r.events, want) {
		t.Errorf("events %q, want %q", r.events, want)
	}
	// The id of the unfinished event was never dispatched: the reset drops
	// it, so an event without an id on the new stream (like "connected")
	// does not commit it.
	if string(p.lastID) != "42" || p.retry != 100 {
		t.Errorf("lastID %q retry %d", p.lastID, p.retry)
	}
}

func TestParseSeqTS(t *testing.T) {
	tests := []struct {
		in      string
		seq, ts uint64
		ok      bool
	}{
		{`{"seq":1,"ts":1700000000123456789,"pad":""}`, 1, 1700000000123456789, true},
		{`{"seq":42,"ts":7,"pad":"xxxxxxxxxxxx"}`, 42, 7, true},
		{`{ "seq" : 3 , "ts" : 9 }`, 3, 9, true},
		{`"{\"seq\":5,\"ts\":6,\"pad\":\"\"}"`, 5, 6, true},
		{`{"subseq":1,"seq":2,"ts":3}`, 2, 3, true},
		{`{"seq":"1","ts":2}`, 0, 0, false},
		{`{"seq":1}`, 0, 0, false},
		{`{"connection":"c1","topics":["bench"]}`, 0, 0, false},
		{``, 0, 0, false},
	}
	for _, tt := range tests {
		seq, ts, ok := parseSeqTS([]byte(tt.in))
		if seq != tt.seq || ts != tt.ts || ok != tt.ok {
			t.Errorf("parseSeqTS(%s) = %d, %d, %v; want %d, %d, %v", tt.in, seq, ts, ok, tt.seq, tt.ts, tt.ok)
		}
	}
}

// FuzzParseSeqTS holds the fast path of parseSeqTS to the key scan it
// short-cuts.
func FuzzParseSeqTS(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"ts":1700000000123456789,"pad":""}`,
		`{"seq":12345678901234567890123,"ts":5}`,
		`{"seq":1,"ts":x,"seq":2,"ts":3}`,
		`{"seq":,"ts":1}`,
		`{"seq":1,"ts":`,
		`"{\"seq\":5,\"ts\":6}"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, ts, ok := parseSeqTS(data)
		wantSeq, wantTS, wantOK := scanSeqTS(data)
		if seq != wantSeq || ts != wantTS || ok != wantOK {
			t.Fatalf("parseSeqTS(%q) = %d, %d, %v; the scan gives %d, %d, %v", data, seq, ts, ok, wantSeq, wantTS, wantOK)
		}
	})
}

func TestHistogramRecordN(t *testing.T) {
	var a, b histogram
	for _, v := range []uint64{0, 7, 7, 7, 900, 900, 123456} {
		a.record(v)
	}
	b.recordN(0, 1)
	b.recordN(7, 3)
	b.recordN(900, 2)
	b.recordN(123456, 1)
	for i := range a.counts {
		if x, y := a.counts[i].Load(), b.counts[i].Load(); x != y {
			t.Errorf("bucket %d: record %d, recordN %d", i, x, y)
		}
	}
	if a.max.Load() != b.max.Load() || b.count() != 7 {
		t.Errorf("max %d vs %d, count %d", a.max.Load(), b.max.Load(), b.count())
	}
}

func TestHistogramBuckets(t *testing.T) {
	prevHi := uint64(0)
	for i := 0; i < histBuckets; i++ {
		lo, hi := histBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if histBucket(lo) != i || histBucket(hi) != i {
			t.Fatalf("bucket %d [%d,%d] maps to %d,%d", i, lo, hi, histBucket(lo), histBucket(hi))
		}
		if lo >= 2*histSub && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-12 {
			t.Fatalf("bucket %d [%d,%d] too wide", i, lo, hi)
		}
		prevHi = hi
	}
	if prevHi != ^uint64(0) {
		t.Fatalf("last bucket ends at %d", prevHi)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	seq := func(from, to uint64) []uint64 {
		var v []uint64
		for x := from; x <= to; x++ {
			v = append(v, x)
		}
		return v
	}
	repeat := func(v uint64, n int) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	tests := []struct {
		name   string
		values []uint64
		q      []float64
		want   []uint64
	}{
		{"empty", nil, []float64{0.5, 0.99}, []uint64{0, 0}},
		{"single", []uint64{1234}, []float64{0.5, 0.999, 1}, []uint64{1234, 1234, 1234}},
		{"exact small", seq(0, 63), []float64{0.5, 0.9, 1}, []uint64{31, 57, 63}},
		{"uniform", seq(1, 1000), []float64{0.5, 0.9, 0.99, 0.999, 1}, []uint64{500, 900, 990, 999, 1000}},
		{"wide", seq(1, 100000), []float64{0.5, 0.99}, []uint64{50000, 99000}},
		{
			"bimodal", append(repeat(100, 990), repeat(100000, 10)...),
			[]float64{0.5, 0.99, 0.999, 1}, []uint64{100, 100, 100000, 100000},
		},
	}
	for _, tt := range tests {
		h := new(histogram)
		// Shuffled so that order does not matter.
		vals := append([]uint64(nil), tt.values...)
		rand.New(rand.NewSource(1)).Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
		for _, v := range vals {
			h.record(v)
		}
		if h.count() != uint64(len(vals)) {
			t.Errorf("%s: count %d", tt.name, h.count())
		}
		for i, q := range tt.q {
			got, want := h.quantile(q), tt.want[i]
			tol := float64(want) / histSub // one bucket width
			if d := float64(got) - float64(want); d > tol || -d > tol {
				t.Errorf("%s: q%g = %d, want %d ±%.1f", tt.name, q, got, want, tol)
			}
		}
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h, merged histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.record(uint64(g*1000 + i))
			}
		}()
	}
	wg.Wait()
	merged.merge(&h)
	if merged.count() != 8000 || merged.max.Load() != 7999 {
		t.Errorf("count %d max %d", merged.count(), merged.max.Load())
	}
}

func TestSeqSet(t *testing.T) {
	tests := []struct {
		name   string
		adds   []uint32
		dups   int
		ranges []seqRange
	}{
		{"in order", []uint32{1, 2, 3, 4}, 0, []seqRange{{1, 4}}},
		{"duplicate", []uint32{1, 2, 2, 3, 1}, 2, []seqRange{{1, 3}}},
		{"reordered", []uint32{2, 1, 4, 3, 6, 5}, 0, []seqRange{{1, 6}}},
		{"holes", []uint32{1, 3, 5, 7}, 0, []seqRange{{1, 1}, {3, 3}, {5, 5}, {7, 7}}},
		{"fill hole", []uint32{1, 3, 2, 3}, 1, []seqRange{{1, 3}}},
		{"prepend", []uint32{10, 5, 9}, 0, []seqRange{{5, 5}, {9, 10}}},
		{"many ranges", []uint32{2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 5, 21, 1, 7, 3}, 0,
			[]seqRange{{1, 8}, {10, 10}, {12, 12}, {14, 14}, {16, 16}, {18, 18}, {20, 22}}},
	}
	for _, tt := range tests {
		var s seqSet
		dups := 0
		for _, x := range tt.adds {
			if !s.add(x) {
				dups++
			}
		}
		if dups != tt.dups || !reflect.DeepEqual(s.r, tt.ranges) {
			t.Errorf("%s: dups %d ranges %v; want %d %v", tt.name, dups, s.r, tt.dups, tt.ranges)
		}
	}
}

func TestSeqSetRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var s seqSet
	seen := map[uint32]bool{}
	for range 20000 {
		x := uint32(rng.Intn(3000) + 1)
		if got := s.add(x); got == seen[x] {
			t.Fatalf("add(%d) = %v, seen before %v", x, got, seen[x])
		}
		seen[x] = true
	}
	if s.len() != uint64(len(seen)) {
		t.Fatalf("len %d, want %d", s.len(), len(seen))
	}
	for i := 1; i < len(s.r); i++ {
		if s.r[i].lo <= s.r[i-1].hi+1 {
			t.Fatalf("ranges %v and %v overlap or touch", s.r[i-1], s.r[i])
		}
	}
}

func TestAckSet(t *testing.T) {
	var a ackSet
	want := map[uint64]bool{}
	rng := rand.New(rand.NewSource(3))
	for range 300 {
		lo := uint64(rng.Intn(1000) + 1)
		hi := lo + uint64(rng.Intn(5))
		a.addRange(lo, hi)
		for x := lo; x <= hi; x++ {
			want[x] = true
		}
	}
	if a.count() != uint64(len(want)) {
		t.Fatalf("count %d, want %d", a.count(), len(want))
	}
	for range 2000 {
		lo := uint64(rng.Intn(1200))
		hi := lo + uint64(rng.Intn(300))
		n := uint64(0)
		for x := lo; x <= hi; x++ {
			if want[x] {
				n++
			}
		}
		if got := a.countRange(lo, hi); got != n {
			t.Fatalf("countRange(%d, %d) = %d, want %d", lo, hi, got, n)
		}
	}
	var s seqSet
	for x := uint32(1); x <= 1100; x += 2 {
		s.add(x)
	}
	n := uint64(0)
	for x := range want {
		if x%2 == 1 && x <= 1100 {
			n++
		}
	}
	if got := a.received(&s); got != n {
		t.Fatalf("received %d, want %d", got, n)
	}
}

// TestNetHTTPStream runs the raw client path (request, head, chunked body,
// SSE parser) against a net/http server that flushes each event.
func TestNetHTTPStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "retry: 250\nevent: connected\ndata: {\"connection\":\"c\",\"topics\":[%q]}\n\n", r.URL.Query().Get("topic"))
		w.(http.Flusher).Flush()
		for i := 1; i <= 50; i++ {
			fmt.Fprintf(w, "id: e%d\ndata: {\"seq\":%d,\"ts\":%d,\"pad\":\"%s\"}\n\n", i, i, time.Now().UnixNano(), strings.Repeat("x", i*100))
			if i%7 == 0 {
				fmt.Fprint(w, ": heartbeat\n\n")
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /?topic=bench HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	br := bufio.NewReaderSize(conn, minReadBuffer)
	h, err := readResponseHead(br)
	if err != nil {
		t.Fatal(err)
	}
	if h.status != 200 || !h.chunked || !strings.HasPrefix(h.contentType, "text/event-stream") {
		t.Fatalf("head %+v", h)
	}
	r := &recorder{}
	p := newSSEParser(r)
	body := h.decoder()
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				t.Fatalf("read: %v", err)
			}
		}
		b, _ := br.Peek(br.Buffered())
		err := body.feed(b, p.feed)
		br.Discard(len(b))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(r.events) != 51 || !strings.HasPrefix(r.events[0], `connected|{"connection":"c","topics":["bench"]}`) {
		t.Fatalf("got %d events, first %q", len(r.events), r.events[0])
	}
	for i, e := range r.events[1:] {
		name, data, _ := strings.Cut(e, "|")
		seq, _, ok := parseSeqTS([]byte(data))
		if name != "message" || !ok || seq != uint64(i+1) || !bytes.HasSuffix([]byte(data), []byte(strings.Repeat("x", (i+1)*100)+`"}`)) {
			t.Fatalf("event %d: %.80q", i+1, e)
		}
	}
	if len(r.comments) != 7 || string(p.lastID) != "e50" || p.retry != 250 {
		t.Fatalf("comments %d lastID %q retry %d", len(r.comments), p.lastID, p.retry)
	}
}
