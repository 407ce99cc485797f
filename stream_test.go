package caddysse

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// What a write carries around its events, on both serving paths: no part
// of it may end with a blank line of its own (issue 7).
func TestAround(t *testing.T) {
	h := NewHub(HubConfig{History: 10})
	t.Cleanup(h.Close)
	ev := &Event{ID: "e-1", Data: "x"}
	ev.Wire()
	tests := []struct {
		name      string
		pending   bool
		events    []*Event
		heartbeat bool
		closed    bool
		reason    string
		head      string // "retry" for a retry line
		tail      string
		stillHeld bool // the pending retry waits for a later write
	}{
		{"nothing", false, nil, false, false, "", "", "", false},
		{"heartbeat", false, nil, true, false, "", ":\n", "", false},
		{"pending retry waits through a heartbeat", true, nil, true, false, "", ":\n", "", true},
		{"pending retry joins the first event", true, []*Event{ev}, false, false, "", "retry: 2000\n", "", false},
		{"stopping ends with a retry line", false, []*Event{ev}, false, true, ReasonStopping, "", "retry", false},
		{"hub closed ends with a retry line", false, nil, false, true, ReasonHubClosed, "", "retry", false},
		{"max_duration ends without one", false, nil, false, true, ReasonMaxDuration, "", "", false},
		{"a slow client dropped gets none", false, nil, false, true, ReasonQueueFull, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSubscriber("c", []string{"a"}, 10, time.Now())
			if tt.pending {
				s.pendingRetry = AppendRetry(nil, 2*time.Second)
			}
			head, tail := h.around(s, tt.events, tt.heartbeat, tt.closed, tt.reason)
			if string(head) != tt.head {
				t.Errorf("head %q, want %q", head, tt.head)
			}
			switch {
			case tt.tail == "retry" && !isRetryLine(tail):
				t.Errorf("tail %q, want one retry line", tail)
			case tt.tail == "" && len(tail) > 0:
				t.Errorf("tail %q, want none", tail)
			}
			if (s.pendingRetry != nil) != tt.stillHeld {
				t.Errorf("pending retry held %v, want %v", s.pendingRetry != nil, tt.stillHeld)
			}
			// The detached path frames the same bytes as one chunk.
			var wire []byte
			for _, b := range chunk(nil, nil, head, tt.events, tail, false) {
				wire = append(wire, b...)
			}
			want := string(head)
			for _, e := range tt.events {
				want += string(e.Wire())
			}
			want += string(tail)
			if want != "" && !bytes.Contains(wire, []byte(want)) {
				t.Errorf("chunk %q does not carry %q", wire, want)
			}
		})
	}
}

func isRetryLine(b []byte) bool {
	s := string(b)
	return strings.HasPrefix(s, "retry: ") && strings.Count(s, "\n") == 1 && strings.HasSuffix(s, "\n")
}

// chunk ends the body with the last chunk only when asked, and frames the
// head, events and tail with their total size.
func TestChunkFraming(t *testing.T) {
	ev := &Event{ID: "e-1", Data: "x"}
	head, tail := []byte(":\n"), []byte("retry: 900\n")
	var got []byte
	for _, b := range chunk(net.Buffers{}, nil, head, []*Event{ev}, tail, true) {
		got = append(got, b...)
	}
	body := ":\n" + string(ev.Wire()) + "retry: 900\n"
	want := strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
	if string(got) != want {
		t.Fatalf("chunk = %q, want %q", got, want)
	}
}

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
	ev := &Event{ID: "e-1", Data: "x"}
	ev.Wire()

	w := newDeadlineWriter()
	out := newStreamWriter(w, timeout)
	for range 3 {
		if err := out.send([]byte(": hb\n"), []*Event{ev}, nil); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	time.Sleep(3 * timeout) // idle, longer than the timeout
	if d := w.setDeadlines(); len(d) != 0 {
		t.Fatalf("completed sends and idling set deadlines %v, want none", d)
	}

	w.block = true
	start := time.Now()
	err := out.send(nil, []*Event{ev}, nil)
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
