package bolt

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

var keepAll = hub.Retention{History: 1000, Idempotency: 5 * time.Minute}

func TestReopenKeepsEpochIDsAndHistory(t *testing.T) {
	path := dbPath(t)
	clk := &clock{now: t0}
	o := openAt(t, path, keepAll, clk)
	start := o.head()
	epoch, seq, ok := hub.ParseID(start.ID)
	if !ok || seq != 0 || start.Seq != 0 {
		t.Fatalf("new file: head %+v, want <epoch>-0", start)
	}
	first := &hub.Event{Topics: []string{"a", "b"}, Name: "greet", Data: "line 1\nline 2", Retry: 1500 * time.Millisecond, Exclude: "c1"}
	if err := o.Append(context.Background(), []*hub.Event{first}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	more := o.publish("a", "c")
	stored := append([]*hub.Event{first}, more...)
	for i, e := range stored {
		if want := hub.FormatID(epoch, uint64(i+1)); e.ID != want || e.Seq != uint64(i+1) {
			t.Fatalf("event %d: id %q seq %d, want %q", i, e.ID, e.Seq, want)
		}
	}
	if !first.Time.Equal(t0) || !more[0].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("events must be stamped with the commit's time: %v, %v", first.Time, more[0].Time)
	}
	head := o.head()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = openAt(t, path, keepAll, clk)
	if got := o.head(); got != head {
		t.Fatalf("head after reopen %+v, want %+v", got, head)
	}
	if o.Len() != 3 {
		t.Fatalf("Len after reopen %d, want 3", o.Len())
	}
	rep := o.replay(start.ID)
	wantReplay(t, rep, "", stored)
	got := rep.Events[0]
	if got.Name != first.Name || got.Data != first.Data || got.Retry != first.Retry || got.Exclude != first.Exclude ||
		!got.Time.Equal(first.Time) || strings.Join(got.Topics, ",") != "a,b" {
		t.Fatalf("event after reopen %+v, want %+v", got, first)
	}
	next := o.publish("a")
	if want := hub.FormatID(epoch, 4); next[0].ID != want {
		t.Fatalf("first id after reopen %q, want %q", next[0].ID, want)
	}
}

func TestReplayResets(t *testing.T) {
	clk := &clock{now: t0}
	o := openAt(t, dbPath(t), hub.Retention{History: 3}, clk)
	start := o.head().ID
	epoch, _, _ := hub.ParseID(start)
	// Seq 1-3 on "a" and "b" leave the history; 4-6 stay.
	early := o.publish("a", "b", "a")
	kept := o.publish("c", "c", "d")
	tests := []struct {
		name      string
		after     string
		selectors []string
		reset     hub.ResetReason
		want      []*hub.Event
	}{
		{"malformed id", "nonsense", []string{"*"}, hub.ResetUnknown, nil},
		{"id past the head", hub.FormatID(epoch, 7), []string{"*"}, hub.ResetUnknown, nil},
		{"other epoch", hub.FormatID("zz"+epoch, 5), []string{"*"}, hub.ResetEpoch, nil},
		{"dropped events on the subscriber's topic", start, []string{"a"}, hub.ResetExpired, nil},
		{"dropped events under its prefix", early[0].ID, []string{"*"}, hub.ResetExpired, nil},
		{"quiet topic: only others' events dropped", start, []string{"c"}, "", kept[:2]},
		{"quiet prefix", start, []string{"d*"}, "", kept[2:]},
		{"from inside the history", kept[0].ID, []string{"*"}, "", kept[1:]},
		{"from the newest drop", early[2].ID, []string{"*"}, "", kept},
		{"from the head", kept[2].ID, []string{"*"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := o.replay(tt.after, tt.selectors...)
			wantReplay(t, rep, tt.reset, tt.want)
		})
	}
}

func TestReplayAfterReopen(t *testing.T) {
	// After a restart the summary of dropped events starts empty: a resume
	// from before the events dropped earlier must be told so, while one
	// from after them is still answered exactly.
	path := dbPath(t)
	o := openAt(t, path, hub.Retention{History: 2}, nil)
	start := o.head().ID
	dropped := o.publish("a", "b") // leave the history below
	kept := o.publish("c", "c")
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openAt(t, path, hub.Retention{History: 2}, nil)
	wantReplay(t, o.replay(start, "c"), hub.ResetExpired, nil)
	wantReplay(t, o.replay(dropped[0].ID, "c"), hub.ResetExpired, nil)
	wantReplay(t, o.replay(dropped[1].ID, "c"), "", kept)
	// Drops after the reopen are known again: "d" events push the "c"
	// ones out, and a "z" subscriber from the last drop before the reopen
	// missed nothing.
	later := o.publish("d", "d")
	wantReplay(t, o.replay(dropped[1].ID, "z"), "", nil)
	wantReplay(t, o.replay(dropped[1].ID, "c"), hub.ResetExpired, nil)
	wantReplay(t, o.replay(kept[1].ID, "*"), "", later)
}

func TestConnectionEventsAreNeverReplayed(t *testing.T) {
	path := dbPath(t)
	o := openAt(t, path, keepAll, nil)
	start := o.head().ID
	private := &hub.Event{Connection: "conn-1", Data: "for one"}
	public := &hub.Event{Topics: []string{"a"}, Data: "for all"}
	if err := o.Append(context.Background(), []*hub.Event{private, public}); err != nil {
		t.Fatal(err)
	}
	if got := ids(o.delivered()); strings.Join(got, " ") != private.ID+" "+public.ID {
		t.Fatalf("delivered %v, want both events", got)
	}
	wantReplay(t, o.replay(start), "", []*hub.Event{public})
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openAt(t, path, keepAll, nil)
	wantReplay(t, o.replay(start), "", []*hub.Event{public})
}

func TestTrimByCount(t *testing.T) {
	tests := []struct {
		name    string
		history int
		batches [][]string // topics per Append
		wantLen int
	}{
		{"under the history", 5, [][]string{{"a", "a"}, {"a"}}, 3},
		{"one at a time", 3, [][]string{{"a"}, {"a"}, {"a"}, {"a"}, {"a"}}, 3},
		{"a batch larger than the history", 2, [][]string{{"a"}, {"a", "a", "a", "a"}}, 2},
		{"no history", 0, [][]string{{"a", "a"}, {"a"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := dbPath(t)
			o := openAt(t, path, hub.Retention{History: tt.history}, nil)
			all := []*hub.Event{{ID: o.head().ID}} // the start position, then every event
			for _, b := range tt.batches {
				all = append(all, o.publish(b...)...)
			}
			if o.Len() != tt.wantLen {
				t.Fatalf("Len %d, want %d", o.Len(), tt.wantLen)
			}
			newest := all[len(all)-1]
			if o.head().ID != newest.ID {
				t.Fatalf("head %q, want the newest id %q", o.head().ID, newest.ID)
			}
			keptFrom := len(all) - tt.wantLen // all[0] is never kept
			wantReplay(t, o.replay(all[keptFrom-1].ID), "", all[keptFrom:])
			if keptFrom >= 2 {
				wantReplay(t, o.replay(all[keptFrom-2].ID), hub.ResetExpired, nil)
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			o = openAt(t, path, hub.Retention{History: tt.history}, nil)
			if o.Len() != tt.wantLen || o.head().ID != newest.ID {
				t.Fatalf("after reopen: Len %d head %q, want %d and %q", o.Len(), o.head().ID, tt.wantLen, newest.ID)
			}
			wantReplay(t, o.replay(all[keptFrom-1].ID), "", all[keptFrom:])
		})
	}
}

func TestConfigureTrimsAtOnce(t *testing.T) {
	path := dbPath(t)
	o := openAt(t, path, hub.Retention{History: 10}, nil)
	all := o.publish("a", "a", "a", "a", "a", "a")
	o.Configure(hub.Retention{History: 2})
	if o.Len() != 2 {
		t.Fatalf("Len after Configure %d, want 2", o.Len())
	}
	wantReplay(t, o.replay(all[3].ID), "", all[4:])
	wantReplay(t, o.replay(all[2].ID), hub.ResetExpired, nil)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// A file reopened with a smaller history is trimmed on open.
	o = openAt(t, path, hub.Retention{History: 1}, nil)
	if o.Len() != 1 {
		t.Fatalf("Len after reopening with history 1: %d", o.Len())
	}
}

func TestTrimByAge(t *testing.T) {
	path := dbPath(t)
	clk := &clock{now: t0}
	ret := hub.Retention{History: 100, MaxAge: time.Minute}
	o := openAt(t, path, ret, clk)
	old := o.publish("a", "b")
	clk.Advance(40 * time.Second)
	young := o.publish("c")
	clk.Advance(30 * time.Second) // old is 70s old, young 30s
	// Not trimmed yet, but too old to send: a subscriber of their topic
	// is told, one of another topic is not.
	wantReplay(t, o.replay(hub.FormatID(o.epoch, 0), "a"), hub.ResetExpired, nil)
	wantReplay(t, o.replay(hub.FormatID(o.epoch, 0), "c"), "", young)
	// The next commit trims them.
	newer := o.publish("c")
	if o.Len() != 2 {
		t.Fatalf("Len %d, want 2 once the old events are trimmed", o.Len())
	}
	wantReplay(t, o.replay(hub.FormatID(o.epoch, 0), "b"), hub.ResetExpired, nil)
	wantReplay(t, o.replay(old[1].ID, "*"), "", append(young, newer...))
	// A file reopened later is trimmed on open.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	o = openAt(t, path, ret, clk)
	if o.Len() != 0 {
		t.Fatalf("Len after reopening past max age: %d, want 0", o.Len())
	}
}
