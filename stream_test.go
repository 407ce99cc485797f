package caddysse

import (
	"errors"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// deadlineWriter is a ResponseWriter whose writes block, while block is
// set, until its write deadline has passed, as a socket's do when the
// client stops reading. It records the deadlines it is given.
type deadlineWriter struct {
	header    http.Header
	block     bool
	mu        sync.Mutex
	deadline  time.Time
	deadlines []time.Time
	changed   chan struct{}
}

func newDeadlineWriter() *deadlineWriter {
	return &deadlineWriter{header: http.Header{}, changed: make(chan struct{}, 1)}
}

func (w *deadlineWriter) Header() http.Header { return w.header }
func (w *deadlineWriter) WriteHeader(int)     {}
func (w *deadlineWriter) Flush()              {}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	for w.block {
		w.mu.Lock()
		d := w.deadline
		w.mu.Unlock()
		if !d.IsZero() && !time.Now().Before(d) {
			return 0, os.ErrDeadlineExceeded
		}
		<-w.changed
	}
	return len(p), nil
}

func (w *deadlineWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	w.deadline = t
	w.deadlines = append(w.deadlines, t)
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return nil
}

func (w *deadlineWriter) setDeadlines() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.deadlines)
}

// TestStreamWriterTimeout: a send that blocks past write_timeout is cut
// off with an error; sends that complete, and the idle time between them,
// never touch the connection's deadline (on HTTP/2 each change is a round
// trip to the connection's goroutine, and an idle stream must not expire).
func TestStreamWriterTimeout(t *testing.T) {
	const timeout = 50 * time.Millisecond
	ev := &hub.Event{ID: "e-1", Data: "x"}
	ev.Wire()

	w := newDeadlineWriter()
	out := newStreamWriter(w, timeout)
	for range 3 {
		if err := out.send([]byte(": hb\n"), []*hub.Event{ev}, nil); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	time.Sleep(3 * timeout) // idle, longer than the timeout
	if d := w.setDeadlines(); len(d) != 0 {
		t.Fatalf("completed sends and idling set deadlines %v, want none", d)
	}

	w.block = true
	start := time.Now()
	err := out.send(nil, []*hub.Event{ev}, nil)
	if !errors.Is(err, errWriteTimeout) {
		t.Fatalf("blocked send: %v, want errWriteTimeout", err)
	}
	if waited := time.Since(start); waited < timeout {
		t.Errorf("blocked send returned after %v, before the %v timeout", waited, timeout)
	}
	if d := w.setDeadlines(); len(d) != 1 || d[0].After(time.Now()) {
		t.Errorf("deadlines %v, want one already passed", d)
	}
}

// TestStreamWriterNoTimeout: with no write_timeout a send may block as
// long as the client needs.
func TestStreamWriterNoTimeout(t *testing.T) {
	w := newDeadlineWriter()
	out := newStreamWriter(w, 0)
	if err := out.send([]byte("data: x\n\n"), nil, nil); err != nil || len(w.setDeadlines()) != 0 {
		t.Fatalf("send: %v, deadlines %v", err, w.setDeadlines())
	}
}
