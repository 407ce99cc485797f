package sseenc

import (
	"encoding/binary"
	"hash/crc32"
)

// A gzip stream's trailer holds the CRC-32 of everything it carried, and
// each stream carries different events, so each keeps its own CRC. To keep
// that from costing a pass over every event's bytes per stream, the CRC is
// combined: crc(A followed by B) = crc(A)·x^(8·len(B)) + crc(B), in
// polynomials over GF(2) modulo the CRC's, for the finished CRC-32 values
// as hash/crc32 returns them. The multiplication by x^(8·len(B)) is linear,
// so it is tabulated per event, 4 bits of the CRC at a time.

// crcPoly is the IEEE polynomial in the reflected bit order of CRC-32,
// where bit 31 is the coefficient of x^0 and bit 0 that of x^31.
const crcPoly = 0xedb88320

// crcMul multiplies a and b modulo the polynomial.
func crcMul(a, b uint32) uint32 {
	var p uint32
	for i := 31; i >= 0; i-- { // a's coefficient of x^(31-i), b times x^(31-i)
		if a&(1<<i) != 0 {
			p ^= b
		}
		b = b>>1 ^ crcPoly&-(b&1)
	}
	return p
}

// crcXPow8n is x^(8n) modulo the polynomial.
func crcXPow8n(n int) uint32 {
	r, base := uint32(1)<<31, uint32(1)<<23 // x^0, x^8
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			r = crcMul(r, base)
		}
		base = crcMul(base, base)
	}
	return r
}

// crcShiftSize is the size of a tabulated shift: 8 tables of 16 values.
const crcShiftSize = 8 * 16 * 4

// appendCRCShift appends the table of the multiplication by x^(8n): entry
// 16k+v is v, placed at bits 4k to 4k+3, times x^(8n).
func appendCRCShift(dst []byte, n int) []byte {
	s := crcXPow8n(n)
	var t [8][16]uint32
	for k := range t {
		for j := range 4 {
			t[k][1<<j] = crcMul(uint32(1)<<(4*k+j), s)
		}
		for v := 3; v < 16; v++ {
			if low := v & -v; low != v {
				t[k][v] = t[k][low] ^ t[k][v^low]
			}
		}
	}
	for k := range t {
		for _, x := range t[k] {
			dst = binary.LittleEndian.AppendUint32(dst, x)
		}
	}
	return dst
}

// crcShift multiplies crc by the shift tabulated in table.
func crcShift(table []byte, crc uint32) uint32 {
	table = table[:crcShiftSize]
	var r uint32
	for k := range 8 {
		v := crc >> (4 * k) & 15
		r ^= binary.LittleEndian.Uint32(table[4*(16*k+int(v)):])
	}
	return r
}

// gzipMetaSize is what follows a gzip piece in an event's cached bytes:
// the CRC-32 of the event's wire bytes, then the tabulated shift by their
// length.
const gzipMetaSize = 4 + crcShiftSize

// gzipPiece is an event's cached gzip encoding: the deflate piece, then
// its metadata (gzipMetaSize), so that a stream folds the event into its
// CRC in a few table lookups.
func gzipPiece(wire []byte) []byte {
	b := deflateSegment(wire, gzipMetaSize)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(wire))
	return appendCRCShift(b, len(wire))
}

// splitGzipPiece returns the deflate piece of a cached gzip encoding and
// folds the event into the stream's CRC.
func (s *Stream) splitGzipPiece(b []byte, wireLen int) []byte {
	piece, meta := b[:len(b)-gzipMetaSize], b[len(b)-gzipMetaSize:]
	s.crc = crcShift(meta[4:], s.crc) ^ binary.LittleEndian.Uint32(meta)
	s.size += uint32(wireLen)
	return piece[:len(piece):len(piece)]
}
