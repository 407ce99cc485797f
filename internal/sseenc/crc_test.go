package sseenc

import (
	"hash/crc32"
	"strings"
	"testing"
)

// TestCRCCombine: folding a piece's CRC into a stream's gives the CRC of
// the concatenation, for any lengths.
func TestCRCCombine(t *testing.T) {
	parts := []string{"", "a", "data: x\n\n", strings.Repeat("0123456789", 100), "\x00\xff", strings.Repeat("z", 70000)}
	for _, a := range parts {
		for _, b := range parts {
			want := crc32.ChecksumIEEE([]byte(a + b))
			shift := appendCRCShift(nil, len(b))
			if got := crcShift(shift, crc32.ChecksumIEEE([]byte(a))) ^ crc32.ChecksumIEEE([]byte(b)); got != want {
				t.Errorf("len %d then %d: %08x, want %08x", len(a), len(b), got, want)
			}
		}
	}
}
