package sseenc

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/caddy-sse/caddy-sse/hub"
)

func TestNegotiate(t *testing.T) {
	auto := []Codec{Zstd, Gzip}
	for _, tc := range []struct {
		accept string
		offer  []Codec
		want   Codec
	}{
		{"", auto, Identity},
		{"identity", auto, Identity},
		{"gzip, deflate, br, zstd", auto, Zstd}, // Chromium
		{"gzip, deflate, br, zstd", []Codec{Gzip}, Gzip},
		{"gzip, deflate, br", auto, Gzip},
		{"deflate, gzip;q=1.0, *;q=0.5", auto, Gzip},
		{"zstd;q=0.5, gzip;q=0.9", auto, Gzip},
		{"zstd;q=0.9, gzip", auto, Gzip},
		{"ZSTD, GZIP", auto, Zstd},
		{"gzip;q=0", auto, Identity},
		{"zstd;q=0, *", auto, Gzip},
		{"*", auto, Zstd},
		{"*;q=0", auto, Identity},
		{"x-gzip", auto, Gzip},
		{"gzip ; q=0.001", []Codec{Gzip}, Gzip},
		{"zstd", []Codec{Gzip}, Identity},
		{"gzip;q=abc", auto, Identity},
		{"gzip;q=2", auto, Identity},
		{"gzip", nil, Identity},
	} {
		if got := Negotiate(tc.accept, tc.offer...); got != tc.want {
			t.Errorf("Negotiate(%q, %v) = %q, want %q", tc.accept, tc.offer, got, tc.want)
		}
	}
}

// encodeStream encodes a stream carrying opening, then each write of
// events with head before it, and ends it.
func encodeStream(c Codec, opening []byte, writes [][]*hub.Event, head []byte) []byte {
	s := NewStream(c)
	var out []byte
	flush := func(bufs [][]byte) {
		for _, b := range bufs {
			out = append(out, b...)
		}
	}
	flush(s.Append(nil, opening, nil, nil, false))
	for _, events := range writes {
		flush(s.Append(nil, head, events, nil, false))
	}
	flush(s.Append(nil, nil, nil, []byte("retry: 500\n"), true))
	return out
}

func decode(t testing.TB, c Codec, body []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip header: %v", err)
		}
		zr.Multistream(false)
		r = zr
	case Zstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%v: decoding: %v", c, err)
	}
	return got
}

func plain(opening []byte, writes [][]*hub.Event, head []byte) []byte {
	out := append([]byte(nil), opening...)
	for _, events := range writes {
		out = append(out, head...)
		for _, e := range events {
			out = append(out, e.Wire()...)
		}
	}
	return append(out, "retry: 500\n"...)
}

func TestStreamDecodes(t *testing.T) {
	events := []*hub.Event{
		{ID: "1", Data: "hello"},
		{ID: "2", Name: "update", Data: strings.Repeat(`{"price":42.5,"symbol":"ACME"}`, 40)},
		{ID: "3", Data: "line one\nline two\r\nline three"},
		{ID: "4", Data: ""},
	}
	writes := [][]*hub.Event{events[:1], nil, events[1:3], events[3:], events}
	opening := hub.AppendEvent(nil, "", "connected", `{"connection":"abc"}`, 0)
	want := plain(opening, writes, []byte(": hb\n"))
	for _, c := range []Codec{Identity, Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			body := encodeStream(c, opening, writes, []byte(": hb\n"))
			if got := decode(t, c, body); !bytes.Equal(got, want) {
				t.Fatalf("decoded %q, want %q", got, want)
			}
			if c != Identity && len(body) >= len(want) {
				t.Errorf("%d bytes compressed from %d: nothing saved", len(body), len(want))
			}
		})
	}
}

// TestStreamLive checks that each write decodes as soon as it arrives,
// before the stream ends: a client sees every event when it is sent.
func TestStreamLive(t *testing.T) {
	for _, c := range []Codec{Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pr.Close()
			send := make(chan *hub.Event)
			go func() {
				s := NewStream(c)
				for e := range send {
					for _, b := range s.Append(nil, nil, []*hub.Event{e}, nil, false) {
						if _, err := pw.Write(b); err != nil {
							return
						}
					}
				}
				pw.Close()
			}()
			defer close(send)
			var r io.Reader
			for i := range 3 {
				e := &hub.Event{ID: fmt.Sprint(i), Data: fmt.Sprint("event ", i)}
				want := e.Wire() // as the hub encodes it when storing it
				send <- e
				if r == nil {
					var err error
					if r, err = newDecoder(c, pr); err != nil {
						t.Fatal(err)
					}
				}
				got := make([]byte, len(want))
				if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("event %d: read %q, %v; want %q", i, got, err, want)
				}
			}
		})
	}
}

func newDecoder(c Codec, r io.Reader) (io.Reader, error) {
	if c == Gzip {
		return gzip.NewReader(r)
	}
	return zstd.NewReader(r)
}

// TestEventsShared checks that streams share an event's compressed bytes
// and that the gzip trailer is still each stream's own.
func TestEventsShared(t *testing.T) {
	e := &hub.Event{ID: "7", Data: strings.Repeat("shared ", 50)}
	for _, c := range []Codec{Gzip, Zstd} {
		a, b := NewStream(c), NewStream(c)
		pa := a.Append(nil, nil, []*hub.Event{e}, nil, false)
		pb := b.Append(nil, []byte(": own head\n"), []*hub.Event{e}, nil, false)
		ea, eb := pa[len(pa)-1], pb[len(pb)-1]
		if &ea[0] != &eb[0] {
			t.Errorf("%v: each stream compressed the event itself", c)
		}
	}
}

func TestEncodedRace(t *testing.T) {
	e := &hub.Event{ID: "1", Data: strings.Repeat("race ", 100)}
	e.Wire() // as the hub does when storing it
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Go(func() {
			s := NewStream(Zstd)
			got[i] = s.Append(nil, nil, []*hub.Event{e}, nil, false)[0]
		})
	}
	wg.Wait()
	for _, g := range got {
		if &g[0] != &got[0][0] {
			t.Fatal("streams got different copies of the event")
		}
	}
}

// FuzzCompressedStream checks that any sequence of events, encoded and
// concatenated, decodes with the standard decoders to exactly their
// concatenated wire bytes.
func FuzzCompressedStream(f *testing.F) {
	f.Add("hello", "message", "second\nline", uint8(2), true)
	f.Add("", "", "", uint8(0), false)
	f.Add(strings.Repeat("abc", 500), "x", "\r\n\r", uint8(7), true)
	f.Fuzz(func(t *testing.T, data, name, data2 string, n uint8, heartbeat bool) {
		var writes [][]*hub.Event
		var head []byte
		if heartbeat {
			head = []byte(":\n")
		}
		for i := range int(n % 16) {
			d := data
			if i%2 == 1 {
				d = data2
			}
			e := &hub.Event{ID: fmt.Sprint(i), Name: name, Data: d}
			writes = append(writes, []*hub.Event{e, e})
		}
		want := plain(nil, writes, head)
		for _, c := range []Codec{Gzip, Zstd} {
			if got := decode(t, c, encodeStream(c, nil, writes, head)); !bytes.Equal(got, want) {
				t.Fatalf("%v: decoded %q, want %q", c, got, want)
			}
		}
	})
}

// BenchmarkFanOut writes one event to 1,000 streams, as the hub's
// writers do: the event is compressed once, then its bytes written to
// every stream.
func BenchmarkFanOut(b *testing.B) {
	const subscribers = 1000
	for _, c := range []Codec{Identity, Gzip, Zstd} {
		b.Run("codec="+c.name()+"/subscribers=1000", func(b *testing.B) {
			streams := make([]Stream, subscribers)
			for i := range streams {
				streams[i] = NewStream(c)
				streams[i].Append(nil, nil, nil, nil, false)
			}
			var bufs [][]byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				e := &hub.Event{ID: fmt.Sprint(i), Data: benchData}
				for j := range streams {
					bufs = streams[j].Append(bufs[:0], nil, []*hub.Event{e}, nil, false)
					for _, p := range bufs {
						_, _ = io.Discard.Write(p)
					}
				}
			}
		})
	}
}

// benchData is the payload of the fan-out benchmarks: a small JSON object,
// as feeds typically send.
const benchData = `{"symbol":"ACME","price":42.51,"change":-0.37,"volume":1234567,"time":"2026-12-01T22:00:00Z"}`

func (c Codec) name() string {
	if c == Identity {
		return "identity"
	}
	return c.String()
}
