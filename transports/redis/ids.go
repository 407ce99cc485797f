package redis

import (
	"strconv"
	"strings"
	"time"
)

// An event's id is "<epoch>-<stream id>", e.g. "m4x2k1q0ab3f-1733059123456-0":
// the hub's epoch, kept in Redis, then the entry's id in the stream, which
// every node sees alike. So any node resumes any client, an id from a
// deleted or flushed stream is recognised by its epoch, and an operator can
// XRANGE from the id's second half. Epochs are base 36 and hold no "-".

// streamID is a Redis stream entry id, "<ms>-<n>".
type streamID struct {
	ms, n uint64
}

// Seq packs a stream id into 64 bits, milliseconds above the counter, so
// that it orders entries as the stream does.
const (
	seqCounterBits = 22 // 4M entries within one millisecond
	seqMsBits      = 64 - seqCounterBits
)

func parseStreamID(s string) (streamID, bool) {
	ms, n, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, false
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(n, 10, 64)
	return streamID{a, b}, err1 == nil && err2 == nil
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.n, 10)
}

// seq is the id's Seq; false when it does not fit (an entry added with an
// explicit id beyond year 2109, or more than 4M entries in a millisecond).
func (id streamID) seq() (uint64, bool) {
	if id.ms >= 1<<seqMsBits || id.n >= 1<<seqCounterBits {
		return 0, false
	}
	return id.ms<<seqCounterBits | id.n, true
}

// time is when Redis stored the entry, by its clock.
func (id streamID) time() time.Time { return time.UnixMilli(int64(id.ms)) }

func (id streamID) after(o streamID) bool {
	return id.ms > o.ms || id.ms == o.ms && id.n > o.n
}

// formatID is the event id of a stream entry in an epoch.
func formatID(epoch string, id streamID) string { return epoch + "-" + id.String() }

// parseID splits an event id into its epoch and stream id.
func parseID(id string) (epoch string, sid streamID, ok bool) {
	epoch, rest, found := strings.Cut(id, "-")
	if !found || epoch == "" {
		return "", streamID{}, false
	}
	sid, ok = parseStreamID(rest)
	return epoch, sid, ok
}
