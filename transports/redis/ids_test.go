package redis

import (
	"math"
	"testing"
)

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		id    string
		epoch string
		sid   streamID
		ok    bool
	}{
		{"m4x2k1q0ab3f-1733059123456-0", "m4x2k1q0ab3f", streamID{1733059123456, 0}, true},
		{"e-0-0", "e", streamID{0, 0}, true},
		{"m4x2k1q0ab3f-17", "", streamID{}, false}, // the memory transport's form
		{"-1-2", "", streamID{}, false},
		{"e-1-x", "", streamID{}, false},
		{"", "", streamID{}, false},
	} {
		epoch, sid, ok := parseID(tc.id)
		if ok != tc.ok || ok && (epoch != tc.epoch || sid != tc.sid) {
			t.Errorf("parseID(%q) = %q, %v, %v", tc.id, epoch, sid, ok)
		}
		if ok && formatID(epoch, sid) != tc.id {
			t.Errorf("formatID(parseID(%q)) = %q", tc.id, formatID(epoch, sid))
		}
	}
}

// Seq orders entries as the stream does, across milliseconds and within one.
func TestSeqOrdersStreamIDs(t *testing.T) {
	ordered := []streamID{{0, 0}, {0, 1}, {1, 0}, {1733059123456, 0}, {1733059123456, 1}, {1733059123456, 1<<seqCounterBits - 1}, {1733059123457, 0}, {1<<seqMsBits - 1, 0}}
	var prev uint64
	for i, id := range ordered {
		seq, ok := id.seq()
		if !ok {
			t.Fatalf("%v does not fit", id)
		}
		if i > 0 && seq <= prev {
			t.Errorf("seq(%v) = %d, not after %d", id, seq, prev)
		}
		if i > 0 && !id.after(ordered[i-1]) {
			t.Errorf("%v is not after %v", id, ordered[i-1])
		}
		prev = seq
	}
	for _, id := range []streamID{{1 << seqMsBits, 0}, {5, 1 << seqCounterBits}, {math.MaxUint64, 0}} {
		if _, ok := id.seq(); ok {
			t.Errorf("%v fits, want refused", id)
		}
	}
}
