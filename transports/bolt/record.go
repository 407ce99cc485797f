package bolt

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// The file holds three buckets:
//
//	meta    format, epoch, seq (the newest event's), trimmed (the newest
//	        sequence that left the history)
//	events  seq -> event record, the history, oldest first
//	keys    seq -> idempotency key record, oldest first
//
// Sequences are 8-byte big-endian keys, so a cursor walks them in order
// and appends land at the end of the tree.
var (
	bucketMeta   = []byte("meta")
	bucketEvents = []byte("events")
	bucketKeys   = []byte("keys")

	metaFormat  = []byte("format")
	metaEpoch   = []byte("epoch")
	metaSeq     = []byte("seq")
	metaTrimmed = []byte("trimmed")
)

// format is the layout this package writes and reads; a file of another
// format is refused rather than misread.
const format = 1

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func keySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

var errCorrupt = errors.New("corrupt record")

// appendRecord encodes an event as stored: its time (8 bytes, Unix
// nanoseconds, first, so trimming by age reads it alone), retry, topics,
// name and exclude, each length-prefixed, and the data last. The id is the
// record's key; events for one connection are never stored.
func appendRecord(b []byte, e *hub.Event) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = binary.AppendUvarint(b, uint64(e.Retry))
	b = binary.AppendUvarint(b, uint64(len(e.Topics)))
	for _, t := range e.Topics {
		b = appendString(b, t)
	}
	b = appendString(b, e.Name)
	b = appendString(b, e.Exclude)
	return append(b, e.Data...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// recordTime is the time of a record.
func recordTime(v []byte) (time.Time, error) {
	if len(v) < 8 {
		return time.Time{}, errCorrupt
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), nil
}

// record is a decoded record; rest is what follows the topics, read only
// for the events a replay sends.
type record struct {
	time   time.Time
	retry  time.Duration
	topics []string
	rest   []byte
}

// readRecord decodes a record up to its topics. Strings are copied: v
// belongs to the transaction.
func readRecord(v []byte) (record, error) {
	var r record
	var err error
	if r.time, err = recordTime(v); err != nil {
		return r, err
	}
	v = v[8:]
	retry, n := binary.Uvarint(v)
	if n <= 0 {
		return r, errCorrupt
	}
	r.retry, v = time.Duration(retry), v[n:]
	count, n := binary.Uvarint(v)
	if n <= 0 || count > uint64(len(v)) {
		return r, errCorrupt
	}
	v = v[n:]
	r.topics = make([]string, count)
	for i := range r.topics {
		if r.topics[i], v, err = readString(v); err != nil {
			return r, err
		}
	}
	r.rest = v
	return r, nil
}

// event completes the decoding of a record stored under seq.
func (r record) event(epoch string, seq uint64) (*hub.Event, error) {
	e := &hub.Event{ID: hub.FormatID(epoch, seq), Seq: seq, Time: r.time, Retry: r.retry, Topics: r.topics}
	var err error
	v := r.rest
	if e.Name, v, err = readString(v); err != nil {
		return nil, err
	}
	if e.Exclude, v, err = readString(v); err != nil {
		return nil, err
	}
	e.Data = string(v)
	return e, nil
}

func readString(v []byte) (string, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) {
		return "", nil, errCorrupt
	}
	v = v[k:]
	return string(v[:n]), v[n:], nil
}

// appendKeyRecord encodes an idempotency key as stored under its event's
// sequence: the time the event was stored (8 bytes), then the key.
func appendKeyRecord(b []byte, at time.Time, key string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	return append(b, key...)
}

// readKeyRecord decodes a key record.
func readKeyRecord(v []byte) (time.Time, string, error) {
	at, err := recordTime(v)
	if err != nil {
		return at, "", err
	}
	return at, string(v[8:]), nil
}

// SizeBound is the most a file holding history events of eventSize bytes
// of data each grows to, with idempotency keys for none of them: four
// times the records (a record is the data and topics plus about 48 bytes
// of key, header and page overhead), because pages written by a commit
// are freed only for the next but one, and because bolt grows the file in
// powers of two up to 16 MiB; plus 64 KiB of fixed pages (meta, root,
// free list). Each idempotency key remembered adds its length plus about
// 32 bytes, times the same four.
func SizeBound(history, eventSize int) int64 {
	return 4*int64(history)*int64(eventSize+48) + 64<<10
}
