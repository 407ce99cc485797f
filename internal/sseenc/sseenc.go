// Package sseenc compresses event streams so that every stream shares the
// compressed bytes of an event: each event is compressed once, on its
// first delivery in an encoding, into a piece that decodes on its own and
// joins any other such pieces into one valid stream. A stream keeps no
// compressor of its own, only what its framing needs (for gzip a CRC-32
// and a length), so an idle compressed stream costs what an uncompressed
// one does.
//
//   - zstd: every piece is a zstd frame; concatenated frames are one valid
//     zstd stream (RFC 8878, section 3.1).
//   - gzip: one gzip member per stream (RFC 1952): the header first, then
//     every piece is raw deflate (RFC 1951) from a fresh compressor, ended
//     by a sync flush, so it is byte-aligned, refers to nothing before it
//     and is not final; the stream's end adds an empty final block, the
//     CRC-32 and the length of everything it carried.
package sseenc

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"

	"github.com/caddy-sse/caddy-sse/hub"
)

// Codec is a content encoding of event streams.
type Codec uint8

// The codecs.
const (
	Identity Codec = iota
	Gzip
	Zstd
)

// String returns the codec's Content-Encoding token; "" for Identity.
func (c Codec) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return ""
}

// slot is where an event caches its encoding in this codec (hub.Event.Encoded).
func (c Codec) slot() int { return int(c) - 1 }

var _ = [hub.EncodedSlots - int(Zstd)]struct{}{} // every codec has a slot

// encode compresses p into a piece of the codec's stream.
func (c Codec) encode(p []byte) []byte {
	if c == Zstd {
		return zstdEncoder().EncodeAll(p, make([]byte, 0, len(p)/2+32))
	}
	return deflateSegment(p, 0)
}

// encodeEvent is how an event's wire bytes are cached in the codec
// (hub.Event.Encoded).
func (c Codec) encodeEvent(wire []byte) []byte {
	if c == Gzip {
		return gzipPiece(wire)
	}
	return c.encode(wire)
}

// Negotiate picks, among offer, the codec the Accept-Encoding header
// accept prefers (RFC 9110, section 12.5.3): the highest q-value above
// zero, ties going to the one offered first. A codec "*" covers is
// accepted with its q-value unless the header names the codec itself.
// Identity is the answer when none is acceptable.
func Negotiate(accept string, offer ...Codec) Codec {
	best, bestQ := Identity, 0.0
	for _, c := range offer {
		if q := acceptQ(accept, c.String()); q > bestQ {
			best, bestQ = c, q
		}
	}
	return best
}

// acceptQ is the q-value accept gives to coding.
func acceptQ(accept, coding string) float64 {
	q, star := -1.0, -1.0
	for item := range strings.SplitSeq(accept, ",") {
		name, params, _ := strings.Cut(item, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if coding == "gzip" && name == "x-gzip" {
			name = "gzip"
		}
		if name != coding && name != "*" {
			continue
		}
		v := 1.0
		for param := range strings.SplitSeq(params, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(param), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				v = f
			}
		}
		if name == "*" {
			star = max(star, v)
		} else {
			q = max(q, v)
		}
	}
	if q < 0 {
		return max(star, 0)
	}
	return q
}

// Stream is the encoding state of one event stream. Its zero value sends
// the stream uncompressed.
type Stream struct {
	codec   Codec
	started bool   // the gzip header was written
	crc     uint32 // gzip: CRC-32 of what the stream carried
	size    uint32 // gzip: its length, modulo 2^32
}

// NewStream returns the state of a stream sent in codec c.
func NewStream(c Codec) Stream { return Stream{codec: c} }

// Codec returns the stream's codec.
func (s *Stream) Codec() Codec { return s.codec }

// Append appends to bufs the bytes of one write of the stream: head, the
// events and tail, and when end is set what ends the encoded stream. An
// event's bytes are shared with every stream in the same codec and must
// not be modified; head and tail are the stream's own and compressed for
// it alone.
func (s *Stream) Append(bufs [][]byte, head []byte, events []*hub.Event, tail []byte, end bool) [][]byte {
	if s.codec == Gzip && !s.started {
		bufs = append(bufs, gzipHeader[:])
		s.started = true
	}
	bufs = s.appendOwn(bufs, head)
	for _, e := range events {
		if s.codec == Identity {
			bufs = append(bufs, e.Wire())
			continue
		}
		b := e.Encoded(s.codec.slot(), s.codec.encodeEvent)
		if s.codec == Gzip {
			b = s.splitGzipPiece(b, len(e.Wire()))
		}
		bufs = append(bufs, b)
	}
	bufs = s.appendOwn(bufs, tail)
	if end && s.codec == Gzip {
		t := make([]byte, 0, len(gzipEnd)+8)
		t = append(t, gzipEnd...)
		t = binary.LittleEndian.AppendUint32(t, s.crc)
		t = binary.LittleEndian.AppendUint32(t, s.size)
		bufs = append(bufs, t)
	}
	return bufs
}

func (s *Stream) appendOwn(bufs [][]byte, p []byte) [][]byte {
	if len(p) == 0 {
		return bufs
	}
	if s.codec == Identity {
		return append(bufs, p)
	}
	s.carried(p)
	return append(bufs, s.codec.encode(p))
}

// carried counts p into the gzip trailer.
func (s *Stream) carried(p []byte) {
	if s.codec == Gzip {
		s.crc = crc32.Update(s.crc, crc32.IEEETable, p)
		s.size += uint32(len(p))
	}
}

var (
	// gzipHeader is a gzip member's header: deflate, no flags, no time,
	// unknown OS.
	gzipHeader = [10]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	// gzipEnd is an empty final deflate block (fixed Huffman codes, end
	// of block only), which ends the member's deflate data.
	gzipEnd = []byte{0x03, 0x00}
)

// deflaters are reused compressors; each piece starts from a reset one,
// so pieces do not depend on one another.
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.DefaultCompression) // a valid level never fails
	return w
}}

// deflateSegment compresses p into raw deflate blocks ended by a sync
// flush: byte-aligned, not final, and referring to nothing before it. The
// result has room for extra more bytes.
func deflateSegment(p []byte, extra int) []byte {
	var buf bytes.Buffer
	buf.Grow(len(p)/2 + 32 + extra)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&buf)
	// Writes to a bytes.Buffer cannot fail.
	_, _ = w.Write(p)
	_ = w.Flush()
	w.Reset(nil)
	deflaters.Put(w)
	return buf.Bytes()
}

// zstdEncoder is the encoder every stream shares; EncodeAll is safe for
// concurrent use. Its window only needs to hold one event, and frames go
// without a checksum: 4 bytes less per event, which the transport's own
// checks make redundant.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(1<<20))
	if err != nil {
		panic("sseenc: zstd encoder: " + err.Error()) // the options are constant and valid
	}
	return e
})
