package detach

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// A plain HTTP/1.1 stream is detached from its request once its opening is
// flushed: the connection is hijacked, the serving goroutine returns, and
// the hub's writer pool writes its events from then on. An idle stream then
// costs a few hundred bytes of records instead of a goroutine stack,
// net/http's buffers and Caddy's request state. HTTP/2, HTTP/3, TLS and
// encoded streams keep their goroutine (stream.go).

// rawConnKey is the context key under which the connection a request came
// on is stored, by the ConnContext hook registered in Provision.
type rawConnKey struct{}

// storeRawConn is the server's ConnContext hook.
func storeRawConn(ctx context.Context, c net.Conn) context.Context {
	if ctx.Value(rawConnKey{}) != nil {
		return ctx
	}
	return context.WithValue(ctx, rawConnKey{}, c)
}

// detached is the state of a stream written by the pool.
type detached struct {
	conn    net.Conn
	sc      syscall.Conn
	token   uint64
	timeout time.Duration
	leave   func()
	pool    *writerPool
	logger  *zap.Logger  // for the line logged when the stream ends
	sent    streamTotals // what the pool wrote; only its current writer touches it

	// scheduled is guarded by the subscriber's mutex: the stream is queued
	// for, or being served by, a worker. readyAt is when it was queued.
	scheduled bool
	readyAt   time.Time
	scratch   []*Event
}

// detach hijacks an eligible stream and hands it to the hub's writer pool,
// with leave to run when it ends. It reports false, having changed nothing,
// when the stream must stay on its goroutine.
func (h *Handler) detach(w http.ResponseWriter, r *http.Request, sub *Subscriber, leave func()) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.TLS != nil || w.Header().Get("Content-Encoding") != "" {
		return false
	}
	conn, _ := r.Context().Value(rawConnKey{}).(net.Conn)
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	pool, err := h.hub.writers()
	if err != nil {
		return false
	}
	if _, _, err := http.NewResponseController(w).Hijack(); err != nil {
		return false
	}
	// Deadlines net/http set for the request would fail later writes;
	// the pool bounds each write itself.
	_ = conn.SetDeadline(time.Time{})
	d := &detached{conn: conn, sc: sc, timeout: time.Duration(h.WriteTimeout), leave: leave, pool: pool, logger: h.logger}
	if d.token, err = pool.watcher.add(sub, sc); err != nil {
		conn.Close()
		leave()
		return true
	}
	sub.mu.Lock()
	sub.det = d
	sub.signal() // whatever queued since the opening
	sub.mu.Unlock()
	return true
}

// writerPool writes the events of detached streams: a few workers take
// streams that have something to send from a run queue.
type writerPool struct {
	hub     *Hub
	watcher *closeWatcher

	mu      sync.Mutex
	ready   []*Subscriber
	wake    chan struct{}
	done    chan struct{}
	closing bool
}

func newWriterPool(h *Hub) (*writerPool, error) {
	w, err := newCloseWatcher()
	if err != nil {
		return nil, err
	}
	workers := 2 * runtime.GOMAXPROCS(0)
	p := &writerPool{hub: h, watcher: w, wake: make(chan struct{}, workers), done: make(chan struct{})}
	for range workers {
		go p.work()
	}
	return p, nil
}

// schedule queues a stream; the caller holds its mutex.
func (p *writerPool) schedule(s *Subscriber) {
	if s.det.scheduled {
		return
	}
	s.det.scheduled = true
	p.enqueue([]*Subscriber{s})
}

// linger is how long a stream waits in the run queue before it is written,
// so that events published meanwhile go out in the same write: under a
// flood of publishes, one write carries many events instead of one write
// per event per subscriber eating the CPU the publishers need.
const linger = 500 * time.Microsecond

// enqueue adds streams already marked scheduled to the run queue; the
// caller holds their mutexes or marked them under it.
func (p *writerPool) enqueue(subs []*Subscriber) {
	now := time.Now()
	for _, s := range subs {
		s.det.readyAt = now
	}
	p.mu.Lock()
	if p.closing {
		// The workers may be gone: a stream whose slow write ended after
		// the hub closed still needs its last write and its release.
		p.mu.Unlock()
		go p.serveAll(slices.Clone(subs))
		return
	}
	p.ready = append(p.ready, subs...)
	p.mu.Unlock()
	for range min(len(subs), cap(p.wake)) {
		select {
		case p.wake <- struct{}{}:
		default:
			return
		}
	}
}

// grab is how many streams a worker takes from the run queue at once.
const grab = 32

// next waits for work and moves up to grab streams into batch.
func (p *writerPool) next(batch []*Subscriber) ([]*Subscriber, bool) {
	for {
		p.mu.Lock()
		if len(p.ready) > 0 {
			if wait := time.Until(p.ready[0].det.readyAt.Add(linger)); wait > 0 && !p.closing {
				p.mu.Unlock()
				time.Sleep(wait)
				continue
			}
			n := copy(batch[:grab], p.ready)
			rest := copy(p.ready, p.ready[n:])
			clear(p.ready[rest:])
			p.ready = p.ready[:rest]
			p.mu.Unlock()
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

func (p *writerPool) work() {
	batch := make([]*Subscriber, grab)
	var scratch writeScratch
	for {
		subs, ok := p.next(batch)
		if !ok {
			return
		}
		for i, s := range subs {
			p.serve(s, &scratch)
			subs[i] = nil
		}
		// The writes never block, so without this a busy worker would keep
		// its thread for a whole time slice while publish requests wait.
		runtime.Gosched()
	}
}

// serveAll serves streams outside the workers.
func (p *writerPool) serveAll(subs []*Subscriber) {
	var scratch writeScratch
	for _, s := range subs {
		p.serve(s, &scratch)
	}
}

// close lets the workers finish what is queued, then stop.
func (p *writerPool) close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	close(p.done)
	p.watcher.close()
}

// writeScratch is a worker's reusable memory for framing writes.
type writeScratch struct {
	bufs net.Buffers
	size [20]byte
}

// serve writes what one stream has waiting, as one chunk of the HTTP/1.1
// chunked body that net/http started.
func (p *writerPool) serve(s *Subscriber, sc *writeScratch) {
	d := s.det
	events, heartbeat, closed, reason := s.take(d.scratch[:0])
	head, tail := p.hub.around(s, events, heartbeat, closed, reason)
	bufs := chunk(sc.bufs[:0], sc.size[:0], head, events, tail, closed)
	sc.bufs = bufs[:0]
	batch := streamTotals{events: len(events)}
	for _, b := range bufs {
		batch.bytes += len(b)
	}
	clear(events)
	if cap(events) <= 64 {
		d.scratch = events[:0]
	}
	if len(bufs) == 0 {
		p.release(s, closed)
		return
	}
	done, err := writeNow(d.sc, &bufs)
	if err == nil && !done {
		// A slow reader: finish this write on a goroutine of its own, with
		// the full write timeout, so no other stream waits for it. The
		// rest is copied out of the worker's scratch memory.
		var rest []byte
		for _, b := range bufs {
			rest = append(rest, b...)
		}
		go func() {
			_ = d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
			_, err := d.conn.Write(rest)
			_ = d.conn.SetWriteDeadline(time.Time{})
			p.written(s, closed, err, batch)
		}()
		return
	}
	p.written(s, closed, err, batch)
}

func (p *writerPool) written(s *Subscriber, closed bool, err error, batch streamTotals) {
	if err == nil {
		s.Wrote(time.Now())
		s.det.sent.add(batch)
	} else {
		s.Close(ReasonWriteFailed)
		closed = true
	}
	p.release(s, closed)
}

// release ends a closed stream, or takes it off the worker and queues it
// again if more arrived meanwhile.
func (p *writerPool) release(s *Subscriber, closed bool) {
	d := s.det
	if closed {
		p.watcher.remove(d.token, d.sc)
		d.conn.Close()
		d.leave()
		logStreamEnd(d.logger, s, d.sent)
		return
	}
	s.mu.Lock()
	d.scheduled = false
	if len(s.queue) > 0 || s.heartbeat || s.closed {
		p.schedule(s)
	}
	s.mu.Unlock()
}

// chunk frames a write as one HTTP/1.1 chunk, appended to bufs: size line
// (formatted into sizeBuf), head, events, tail, CRLF; and the last chunk
// when the stream ends.
func chunk(bufs net.Buffers, sizeBuf, head []byte, events []*Event, tail []byte, last bool) net.Buffers {
	size := len(head) + len(tail)
	for _, e := range events {
		size += len(e.Wire())
	}
	if size > 0 {
		bufs = append(bufs, append(strconv.AppendInt(sizeBuf, int64(size), 16), '\r', '\n'))
		if len(head) > 0 {
			bufs = append(bufs, head)
		}
		for _, e := range events {
			bufs = append(bufs, e.Wire())
		}
		if len(tail) > 0 {
			bufs = append(bufs, tail)
		}
		bufs = append(bufs, crlf)
	}
	if last {
		bufs = append(bufs, lastChunk)
	}
	return bufs
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)
