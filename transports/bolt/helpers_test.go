package bolt

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a time the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// opened is a store under test with what it delivered.
type opened struct {
	*store
	t     *testing.T
	mu    sync.Mutex
	got   []*hub.Event // every delivered event, in delivery order
	calls int          // Deliver calls
	file  *os.File     // the file bolt opened
}

func (o *opened) deliver(events []*hub.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, events...)
	o.calls++
}

func (o *opened) delivered() []*hub.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

// openAt opens the file at path with the retention and clock, and closes
// it when the test ends (unless the test closed it).
func openAt(t *testing.T, path string, ret hub.Retention, clk *clock) *opened {
	t.Helper()
	o := &opened{t: t}
	now := time.Now
	if clk != nil {
		now = clk.Now
	}
	s, err := open(path, 200*time.Millisecond, hub.TransportConfig{Hub: "test", Retention: ret, Deliver: o.deliver}, hooks{
		now: now,
		openFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			o.file = f
			return f, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	o.store = s
	t.Cleanup(func() { _ = s.Close() })
	return o
}

func dbPath(t *testing.T) string { return filepath.Join(t.TempDir(), "hub.db") }

// publish appends one event per topic given, data "<topic>:<n>".
func (o *opened) publish(topics ...string) []*hub.Event {
	o.t.Helper()
	events := make([]*hub.Event, len(topics))
	for i, tp := range topics {
		events[i] = &hub.Event{Topics: []string{tp}, Data: tp + ":" + strconv.Itoa(i)}
	}
	if err := o.Append(context.Background(), events); err != nil {
		o.t.Fatalf("Append: %v", err)
	}
	return events
}

func (o *opened) head() hub.Position {
	o.t.Helper()
	p, err := o.Head(context.Background())
	if err != nil {
		o.t.Fatal(err)
	}
	return p
}

func (o *opened) replay(after string, selectors ...string) hub.Replay {
	o.t.Helper()
	if len(selectors) == 0 {
		selectors = []string{"*"}
	}
	rep, err := o.Replay(context.Background(), after, selectors)
	if err != nil {
		o.t.Fatalf("Replay(%q): %v", after, err)
	}
	return rep
}

func ids(events []*hub.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// wantReplay checks a replay's reset and ids.
func wantReplay(t *testing.T, rep hub.Replay, reset hub.ResetReason, want []*hub.Event) {
	t.Helper()
	if rep.Reset != reset {
		t.Errorf("reset %q, want %q", rep.Reset, reset)
	}
	if reset == "" && !slices.Equal(ids(rep.Events), ids(want)) {
		t.Errorf("replayed %v, want %v", ids(rep.Events), ids(want))
	}
}
