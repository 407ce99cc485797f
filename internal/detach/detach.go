// Package detach writes event streams whose connections were taken over
// from net/http: a few workers write every such stream, and one epoll set
// notices clients that hang up, so an idle stream costs a few hundred bytes
// of records instead of a goroutine stack, net/http's buffers and Caddy's
// request state. It meets the hub through the hub's Writer interface and
// the Subscriber's methods (Take, Release, Wrote, Close), never its fields.
package detach

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddy-sse/caddy-sse/internal/sseenc"
)

// Totals count what the pool wrote to one stream.
type Totals struct {
	Events int
	Bytes  int
}

func (t *Totals) add(o Totals) {
	t.Events += o.Events
	t.Bytes += o.Bytes
}

// Stream is how a taken-over connection is to be written.
type Stream struct {
	// Conn is the connection, already past the response headers and the
	// stream's opening; the pool writes HTTP/1.1 chunks to it. A
	// *tls.Conn is written through, after checking that the socket takes
	// the sealed records without waiting.
	Conn net.Conn
	// WriteTimeout bounds a write to a client that stopped reading.
	WriteTimeout time.Duration
	// Encoding is the stream's content encoding, as far as the stream
	// got before it was taken over; its zero value sends it as it is.
	Encoding sseenc.Stream
	// Ended runs once the stream ended and its connection is closed, with
	// what the pool wrote to it.
	Ended func(Totals)
	// Failed, when set, runs with the error of a write that failed or
	// timed out, before the stream ends; Ended follows on the same
	// goroutine.
	Failed func(error)
}

// stream is the pool's state of one stream.
type stream struct {
	Stream
	sub     *hub.Subscriber
	sc      syscall.Conn // the socket under Conn
	tls     bool
	token   uint64
	readyAt time.Time // when it was queued; guarded by the pool's mutex
	takenAt time.Time // when its last write began; only its current writer touches it
	sent    Totals    // only its current writer touches it
	scratch []*hub.Event
	ended   bool // guarded by the pool's mutex: nothing more to write
}

// Pool writes the events of detached streams: a few workers take streams
// that have something to send from a run queue. It is a hub.Writer.
type Pool struct {
	watcher *closeWatcher

	mu      sync.Mutex
	ready   []*stream
	wake    chan struct{}
	done    chan struct{}
	closing bool
	// progress is signalled when a worker takes streams off the run
	// queue, for Pace.
	progress chan struct{}
}

var _ hub.Writer = (*Pool)(nil)

// NewPool starts a pool; it fails where connections cannot be watched
// (outside Linux).
func NewPool() (*Pool, error) {
	w, err := newCloseWatcher()
	if err != nil {
		return nil, err
	}
	workers := 2 * runtime.GOMAXPROCS(0)
	p := &Pool{
		watcher:  w,
		wake:     make(chan struct{}, workers),
		done:     make(chan struct{}),
		progress: make(chan struct{}, 1),
	}
	for range workers {
		go p.work()
	}
	return p, nil
}

// Serve takes over the stream of sub, which must not be attached yet, and
// writes it from now on. When it returns an error nothing was taken over.
func (p *Pool) Serve(sub *hub.Subscriber, s Stream) error {
	sc, isTLS, err := socketOf(s.Conn)
	if err != nil {
		return err
	}
	st := &stream{Stream: s, sub: sub, sc: sc, tls: isTLS}
	token, err := p.watcher.add(sub, sc)
	if err != nil {
		return err
	}
	st.token = token
	sub.Attach(p, st) // wakes it if something queued since the opening
	return nil
}

// Detachable reports whether a pool can take conn over: a socket, or TLS
// over one.
func Detachable(conn net.Conn) bool {
	_, _, err := socketOf(conn)
	return err == nil
}

// socketOf returns the socket under conn, and whether TLS runs over it.
func socketOf(conn net.Conn) (sc syscall.Conn, isTLS bool, err error) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn, isTLS = tc.NetConn(), true
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, false, errNotSyscallConn
	}
	return sc, isTLS, nil
}

// linger is how long a stream waits in the run queue before it is written,
// so that events published meanwhile go out in the same write: under a
// flood of publishes, one write carries many events instead of one write
// per event per subscriber eating the CPU the publishers need.
const linger = 500 * time.Microsecond

// Wake queues streams that have something to write; the hub calls it.
func (p *Pool) Wake(subs []*hub.Subscriber) { p.enqueue(subs, time.Now()) }

// enqueue queues streams as ready since the given time: a stream lingers in
// the run queue until linger after it.
func (p *Pool) enqueue(subs []*hub.Subscriber, since time.Time) {
	p.mu.Lock()
	if p.closing {
		// The workers may be gone: a stream whose slow write ended after
		// the pool closed still needs its last write and its release.
		batch := make([]*stream, 0, len(subs))
		for _, s := range subs {
			if st := s.WriterHandle().(*stream); !st.ended {
				batch = append(batch, st)
			}
		}
		p.mu.Unlock()
		go p.serveAll(batch)
		return
	}
	for _, s := range subs {
		if st := s.WriterHandle().(*stream); !st.ended {
			st.readyAt = since
			p.ready = append(p.ready, st)
		}
	}
	p.mu.Unlock()
	for range min(len(subs), cap(p.wake)) {
		select {
		case p.wake <- struct{}{}:
		default:
			return
		}
	}
}

// behindAfter is how long past its linger a stream may wait in the run
// queue before the workers count as behind (see Pace).
const behindAfter = 2 * time.Millisecond

// maxPace bounds one call of Pace, so that a publisher is slowed, never
// stopped: past it, a subscriber that falls behind is dropped as always.
const maxPace = 50 * time.Millisecond

// Pace waits while the workers are behind, up to maxPace or until ctx
// ends: while a stream has waited in the run queue for more than
// behindAfter past its linger. A publisher that calls it between batches
// stores no faster than the workers write, so that it does not fill the
// queues of subscribers that read as fast as they are written to until
// the hub drops them. A client that reads slowly never holds it up: a
// stream waiting for its client is off the run queue.
func (p *Pool) Pace(ctx context.Context) { p.pace(ctx, maxPace) }

// pace is Pace waiting at most limit.
func (p *Pool) pace(ctx context.Context, limit time.Duration) {
	var timer *time.Timer
	deadline := time.Now().Add(limit)
	for {
		p.mu.Lock()
		behind := len(p.ready) > 0 && !p.closing && time.Since(p.ready[0].readyAt) > linger+behindAfter
		p.mu.Unlock()
		left := time.Until(deadline)
		if !behind || left <= 0 {
			break
		}
		if timer == nil {
			timer = time.NewTimer(min(left, linger))
		} else {
			timer.Reset(min(left, linger))
		}
		select {
		case <-p.progress:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		}
	}
	if timer != nil {
		timer.Stop()
	}
}

// grab is how many streams a worker takes from the run queue at once.
const grab = 32

// next waits for work and moves up to grab streams into batch.
func (p *Pool) next(batch []*stream) ([]*stream, bool) {
	for {
		p.mu.Lock()
		if len(p.ready) > 0 {
			if wait := time.Until(p.ready[0].readyAt.Add(linger)); wait > 0 && !p.closing {
				p.mu.Unlock()
				time.Sleep(wait)
				continue
			}
			n := copy(batch[:grab], p.ready)
			rest := copy(p.ready, p.ready[n:])
			clear(p.ready[rest:])
			p.ready = p.ready[:rest]
			p.mu.Unlock()
			select {
			case p.progress <- struct{}{}:
			default:
			}
			if rest > 0 { // pass the baton: another worker takes the next ones
				select {
				case p.wake <- struct{}{}:
				default:
				}
			}
			return batch[:n], true
		}
		closing := p.closing
		p.mu.Unlock()
		if closing {
			return nil, false
		}
		select {
		case <-p.wake:
		case <-p.done:
		}
	}
}

func (p *Pool) work() {
	batch := make([]*stream, grab)
	var scratch writeScratch
	for {
		streams, ok := p.next(batch)
		if !ok {
			return
		}
		for i, st := range streams {
			p.serve(st, &scratch)
			streams[i] = nil
		}
		// The writes never block, so without this a busy worker would keep
		// its thread for a whole time slice while publish requests wait.
		runtime.Gosched()
	}
}

// serveAll serves streams outside the workers.
func (p *Pool) serveAll(streams []*stream) {
	var scratch writeScratch
	for _, st := range streams {
		p.serve(st, &scratch)
	}
}

// Close lets the workers finish what is queued, then stop. Streams still
// open are ended by their hub closing them; the pool serves them to the
// end on goroutines of their own.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	p.closing = true
	p.mu.Unlock()
	close(p.done)
	p.watcher.close()
}

// writeScratch is a worker's reusable memory for framing writes.
type writeScratch struct {
	bufs    net.Buffers
	payload [][]byte
	size    [20]byte
	joined  []byte // a TLS write, in one piece
}

// serve writes what one stream has waiting, as one chunk of the HTTP/1.1
// chunked body that net/http started.
func (p *Pool) serve(st *stream, sc *writeScratch) {
	st.takenAt = time.Now()
	b := st.sub.Take(st.scratch[:0])
	sc.payload = st.Encoding.Append(sc.payload[:0], b.Head, b.Events, b.Tail, b.Closed)
	bufs := chunk(sc.bufs[:0], sc.size[:0], sc.payload, b.Closed)
	clear(sc.payload)
	sc.bufs = bufs[:0]
	batch := Totals{Events: len(b.Events), Bytes: buffersLen(bufs)}
	clear(b.Events)
	if hub.KeepBuffer(len(b.Events), cap(b.Events)) {
		st.scratch = b.Events[:0]
	} else {
		st.scratch = nil
	}
	if len(bufs) == 0 {
		p.release(st, b.Closed)
		return
	}
	var done bool
	var err error
	if st.tls {
		done, err = writeTLS(st, bufs, &sc.joined)
	} else {
		done, err = writeNow(st.sc, &bufs)
	}
	if err == nil && !done {
		// A slow reader: finish this write on a goroutine of its own, with
		// the full write timeout, so no other stream waits for it. The
		// rest is copied out of the worker's scratch memory.
		var rest []byte
		for _, b := range bufs {
			rest = append(rest, b...)
		}
		go func() {
			_ = st.Conn.SetWriteDeadline(time.Now().Add(st.WriteTimeout))
			_, err := st.Conn.Write(rest)
			_ = st.Conn.SetWriteDeadline(time.Time{})
			p.written(st, b.Closed, err, batch)
		}()
		return
	}
	p.written(st, b.Closed, err, batch)
}

func (p *Pool) written(st *stream, closed bool, err error, batch Totals) {
	if err == nil {
		st.sub.Wrote(time.Now())
		st.sent.add(batch)
	} else {
		if st.Failed != nil {
			st.Failed(err)
		}
		st.sub.Close(hub.ReasonWriteFailed)
		closed = true
	}
	p.release(st, closed)
}

// release ends a closed stream, or takes it off the worker and queues it
// again if more arrived meanwhile. What arrived has waited since the write
// began, so the stream is queued as ready since then: under a flood a
// stream is written again as soon as linger has passed since its last
// write, not linger after that write ended.
func (p *Pool) release(st *stream, closed bool) {
	if !closed {
		if st.sub.Release() {
			p.enqueue([]*hub.Subscriber{st.sub}, st.takenAt)
		}
		return
	}
	p.watcher.remove(st.token, st.sc)
	if st.tls {
		// Closing a TLS connection writes an alert, and waits up to 5s
		// on a client that stopped reading: not on a worker.
		go st.Conn.Close()
	} else {
		st.Conn.Close()
	}
	p.mu.Lock()
	st.ended = true
	p.mu.Unlock()
	if st.Ended != nil {
		st.Ended(st.sent)
	}
}

// tlsOverhead bounds what TLS adds to n bytes of payload: a record header,
// MAC or tag and nonce for every record, at the smallest records Go's
// dynamic record sizing starts a connection with.
func tlsOverhead(n int) int { return 32 * (n/1000 + 1) }

// writeTLS writes bufs through the stream's TLS connection when the socket
// has room for the sealed records, so the write does not wait for the
// client; done is false, and nothing written, when it has not. The write
// is bounded by the write timeout all the same, should the room shrink.
func writeTLS(st *stream, bufs net.Buffers, joined *[]byte) (done bool, err error) {
	n := buffersLen(bufs)
	room, err := sendRoom(st.sc)
	if err != nil || room < n+tlsOverhead(n) {
		return false, nil
	}
	b := (*joined)[:0]
	for _, part := range bufs {
		b = append(b, part...)
	}
	*joined = b[:0]
	if cap(b) > 64<<10 {
		*joined = nil // give back what a burst grew
	}
	_ = st.Conn.SetWriteDeadline(time.Now().Add(st.WriteTimeout))
	if _, err := st.Conn.Write(b); err != nil {
		return false, err
	}
	return true, nil
}

// chunk frames a write as one HTTP/1.1 chunk, appended to bufs: size line
// (formatted into sizeBuf), the payload (the batch as the stream's
// encoding sends it), CRLF; and the last chunk when the stream ends.
func chunk(bufs net.Buffers, sizeBuf []byte, payload [][]byte, closed bool) net.Buffers {
	size := 0
	for _, p := range payload {
		size += len(p)
	}
	if size > 0 {
		bufs = append(bufs, append(strconv.AppendInt(sizeBuf, int64(size), 16), '\r', '\n'))
		bufs = append(bufs, payload...)
		bufs = append(bufs, crlf)
	}
	if closed {
		bufs = append(bufs, lastChunk)
	}
	return bufs
}

var errNotSyscallConn = errors.New("the connection gives no access to its socket")

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

func buffersLen(bufs net.Buffers) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
