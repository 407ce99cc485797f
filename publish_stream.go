package caddysse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/detach"
)

// A streaming publish is one long POST of NDJSON: one event per line, each
// with the fields and checks of a JSON publish, answered line by line with
// an NDJSON ack in the same order. Lines that are already buffered are
// stored together (one Hub.Publish, one write and flush of their acks), and
// the body is read only as fast as the hub stores and the client takes the
// acks, so nothing is buffered beyond one read buffer and one line.

// ndjsonType is the media type of a streaming publish and of its answer.
const ndjsonType = "application/x-ndjson"

// ndjsonReadBuffer is the size of a streaming publish's read buffer; a
// line longer than it is assembled in a separate buffer.
const ndjsonReadBuffer = 64 << 10

// ndjsonLine is one non-empty line of a streaming publish: its event, or
// why it was refused.
type ndjsonLine struct {
	n     int // the line's number, counting from 1
	event *hub.Event
	err   error // an httpError
	// subscribers is the number the stored event was queued to.
	subscribers int
}

// ndjsonReader splits a body into lines and decodes each into an event.
type ndjsonReader struct {
	r       *bufio.Reader
	maxLine int    // bytes in one line, without its line end
	maxSize int    // the handler's max_event_size
	line    int    // number of the last line read
	long    []byte // a line longer than the read buffer
	err     error  // the body's end or read error, once met
	json    jsonDecoder
}

func newNDJSONReader(body io.Reader, maxLine, maxSize int) *ndjsonReader {
	return &ndjsonReader{r: bufio.NewReaderSize(body, ndjsonReadBuffer), maxLine: maxLine, maxSize: maxSize}
}

// next returns the next non-empty line. The error is io.EOF at the end of
// the body, or the body's read error; a line that is refused is not an
// error of next but carries its own.
func (d *ndjsonReader) next() (ndjsonLine, error) {
	for {
		raw, tooLong, err := d.readLine()
		if raw == nil && !tooLong {
			return ndjsonLine{}, err
		}
		d.line++
		if tooLong {
			return ndjsonLine{n: d.line, err: errStatus(http.StatusRequestEntityTooLarge, "line is over %d bytes", d.maxLine)}, nil
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		e, lineErr := decodeLineWith(&d.json, raw, d.maxSize)
		return ndjsonLine{n: d.line, event: e, err: lineErr}, nil
	}
}

// readLine reads up to the next newline and returns the line without its
// line end. A line over maxLine is read to its end and dropped, and
// reported as tooLong, so reading resumes at the next line. raw is nil and
// err set when the body ended (or failed) before another byte.
func (d *ndjsonReader) readLine() (raw []byte, tooLong bool, err error) {
	if d.err != nil {
		return nil, false, d.err
	}
	d.long = d.long[:0]
	n := 0 // bytes of the line so far, line end included
	for {
		chunk, err := d.r.ReadSlice('\n')
		n += len(chunk)
		if n > d.maxLine+len("\r\n") {
			tooLong, d.long = true, d.long[:0]
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong {
				d.long = append(d.long, chunk...)
			}
			continue
		}
		d.err = err
		switch {
		case n == 0:
			return nil, false, err
		case tooLong:
			return nil, true, err
		}
		raw = chunk // the common case: the whole line is in the buffer
		if len(d.long) > 0 {
			d.long = append(d.long, chunk...)
			raw = d.long
		}
		raw = bytes.TrimSuffix(raw, []byte("\n"))
		raw = bytes.TrimSuffix(raw, []byte("\r"))
		if len(raw) > d.maxLine {
			return nil, true, err
		}
		return raw, false, err
	}
}

// lineBuffered reports whether a whole line is already buffered, so that
// reading it will not wait for the client.
func (d *ndjsonReader) lineBuffered() bool {
	buf, _ := d.r.Peek(d.r.Buffered())
	return bytes.IndexByte(buf, '\n') >= 0
}

// decodeLine turns one line into a validated event, with the decoder and
// the checks of a JSON publish.
func decodeLine(raw []byte, maxSize int) (*hub.Event, error) {
	return decodeLineWith(new(jsonDecoder), raw, maxSize)
}

// decodeLineWith is decodeLine with a decoder whose scratch buffer serves
// the lines before and after.
func decodeLineWith(dec *jsonDecoder, raw []byte, maxSize int) (*hub.Event, error) {
	var o jsonEvent
	if err := dec.decodeObject(raw, &o); err != nil {
		if errors.Is(err, errJSONArray) {
			return nil, errStatus(http.StatusBadRequest, "a line holds one event object, not an array")
		}
		return nil, errStatus(http.StatusBadRequest, "%v", err)
	}
	e, err := o.event()
	if err != nil {
		return nil, errStatus(http.StatusBadRequest, "%v", err)
	}
	if err := e.Validate(maxSize); err != nil {
		if errors.As(err, new(hub.ErrTooLarge)) {
			return nil, errStatus(http.StatusRequestEntityTooLarge, "%v", err)
		}
		return nil, errStatus(http.StatusBadRequest, "%v", err)
	}
	return e, nil
}

// publishStream serves a streaming publish. The origin and the token are
// checked once, as for any publish; each line's topics are checked against
// the token. A refused line is counted in the publish errors under the
// status it would have had as a request of its own.
func (h *Handler) publishStream(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	// HTTP/1.1 must be told that the answer may be written while the body
	// is still being read: acks go out as lines come in, and a refusal must
	// not wait for a body its client may only send once answered. HTTP/2
	// always allows it and reports ErrNotSupported.
	_ = rc.EnableFullDuplex()
	token, err := h.admitPublisher(r)
	if err != nil {
		return writeError(w, 0, err)
	}
	if r.Header.Get(idempotencyHeader) != "" {
		return writeError(w, http.StatusBadRequest, errors.New("a streaming publish takes no Idempotency-Key header: give each line its own idempotency_key"))
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ndjsonType)
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil // the client is gone
	}

	pace := h.streamPacer(r.Context())
	d := newNDJSONReader(r.Body, h.maxBody(), h.MaxEventSize)
	var (
		lines  []ndjsonLine
		events []*hub.Event
		acks   []byte
		// storeFailed is set once the transport refused a batch.
		storeFailed bool
	)
	for {
		// A fresh events slice each time: the hub's log may keep it.
		lines, events = lines[:0], nil
		var readErr error
		for len(lines) < maxBatch {
			l, err := d.next()
			if err != nil {
				readErr = err
				break
			}
			if l.err == nil && token != nil {
				l.err = token.authorizeEvent(l.event)
			}
			if l.err == nil {
				events = append(events, l.event)
			}
			lines = append(lines, l)
			if !d.lineBuffered() {
				break
			}
		}
		storeErr := h.storeLines(lines, events)
		if storeErr != nil && !storeFailed {
			storeFailed = true // one line per request
			logStoreFailure(h.logger, h.Hub, r, len(events), storeErr)
		}
		acks = appendAcks(acks[:0], lines, storeErr, h.publishStats)
		if len(acks) > 0 {
			if _, err := w.Write(acks); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
		if readErr != nil || errors.Is(storeErr, hub.ErrHubClosed) {
			// A read error is the client leaving or Caddy's body limit;
			// either way the acks so far are all the client gets.
			return nil
		}
		pace()
	}
}

// streamPacer returns what a streaming publish does between batches.
// While lines keep coming nothing else makes it wait, so it yields its
// thread to the writers it woke, and waits while the hub's writer pool is
// behind: otherwise one stream stores faster than the pool writes, and
// every detached subscriber, however fast it reads, falls buffer events
// behind and is dropped.
func (h *Handler) streamPacer(ctx context.Context) func() {
	var pool *detach.Pool
	if h.entry != nil {
		pool, _ = h.entry.detachedWriters() // none outside Linux
	}
	return func() {
		runtime.Gosched()
		if pool != nil {
			pool.Pace(ctx)
		}
	}
}

// storeLines publishes the events of a batch's good lines, in one call to
// the hub, and notes in each line how many subscribers its event reached.
func (h *Handler) storeLines(lines []ndjsonLine, events []*hub.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := h.hub.Publish(context.Background(), events); err != nil {
		return storeError(err)
	}
	i := 0
	for j := range lines {
		if lines[j].err == nil {
			lines[j].subscribers = events[i].Ack().Subscribers
			i++
		}
	}
	return nil
}

// appendAcks appends one ack line per line of a batch, in order: the id and
// subscribers of a stored event, or the line's number, status and error.
func appendAcks(b []byte, lines []ndjsonLine, storeErr error, stats *publishStats) []byte {
	for _, l := range lines {
		err := l.err
		if err == nil && storeErr != nil {
			err = storeErr
		}
		if err == nil {
			b = append(appendAck(b, l.event.ID, l.subscribers), '\n')
			continue
		}
		status := http.StatusBadRequest
		var he httpError
		if errors.As(err, &he) {
			status = he.status
		}
		if stats != nil && status >= 400 && status < 600 {
			stats.errors[status-400].Add(1)
		}
		b = append(b, `{"line":`...)
		b = strconv.AppendInt(b, int64(l.n), 10)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"error":`...)
		b = appendJSONString(b, err.Error())
		b = append(b, "}\n"...)
	}
	return b
}
