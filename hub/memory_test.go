package hub

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var histT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// histAppend stores n events on topic "a" (data "1", "2", ...) at now.
func histAppend(t *testing.T, l *memoryLog, n int, now time.Time) []*Event {
	t.Helper()
	events := make([]*Event, n)
	for i := range events {
		events[i] = &Event{Topics: []string{"a"}, Data: strconv.Itoa(i + 1)}
	}
	l.Append(events, now)
	return events
}

// histAll selects every topic.
var histAll = []string{"*"}

func histIDs(events []*Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// histAfter checks a call of After against the events and reason wanted.
func histAfter(t *testing.T, l *memoryLog, lastID string, now time.Time, want []*Event, wantReason ResetReason) {
	t.Helper()
	histAfterFor(t, l, lastID, now, histAll, want, wantReason)
}

// histAfterFor is histAfter for a subscriber of the given selectors.
func histAfterFor(t *testing.T, l *memoryLog, lastID string, now time.Time, selectors []string, want []*Event, wantReason ResetReason) {
	t.Helper()
	got, reason := l.After(lastID, now, selectors)
	if reason != wantReason {
		t.Errorf("After(%q): reason %q, want %q", lastID, reason, wantReason)
	}
	if !slices.Equal(histIDs(got), histIDs(want)) {
		t.Errorf("After(%q) = %v, want %v", lastID, histIDs(got), histIDs(want))
	}
}

func TestEpochsDiffer(t *testing.T) {
	// Logs created in the same millisecond, as two hubs or two nodes may be,
	// still have epochs of their own.
	seen := make(map[string]bool)
	for range 100 {
		e := newMemoryLog(1, 0, histT0).epoch
		if seen[e] {
			t.Fatalf("epoch %q given twice in the same millisecond", e)
		}
		seen[e] = true
		if !strings.HasPrefix(e, strconv.FormatInt(histT0.UnixMilli(), 36)) || strings.ContainsAny(e, "-*") {
			t.Fatalf("epoch %q: want the millisecond in base 36, then random digits", e)
		}
	}
}

func TestFormatID(t *testing.T) {
	long := strings.Repeat("e", 60) // past FormatID's stack buffer
	for _, tc := range []struct {
		epoch string
		seq   uint64
		want  string
	}{
		{"mx0abcd", 0, "mx0abcd-0"},
		{"mx0abcd", 42, "mx0abcd-42"},
		{"mx0abcd", math.MaxUint64, "mx0abcd-18446744073709551615"},
		{long, 7, long + "-7"},
	} {
		if got := FormatID(tc.epoch, tc.seq); got != tc.want {
			t.Errorf("FormatID(%q, %d) = %q, want %q", tc.epoch, tc.seq, got, tc.want)
		}
		if ep, seq, ok := ParseID(tc.want); !ok || ep != tc.epoch || seq != tc.seq {
			t.Errorf("ParseID(%q) = %q, %d, %v", tc.want, ep, seq, ok)
		}
	}
}

func TestMemoryLogIDs(t *testing.T) {
	l := newMemoryLog(10, 0, histT0)
	epoch := l.epoch
	// Before the first event LastID is still an id of this epoch, one a
	// client can resume from completely.
	start := l.LastID()
	if start != epoch+"-0" || l.Len() != 0 {
		t.Fatalf("new log: LastID %q, Len %d; want %q and 0", start, l.Len(), epoch+"-0")
	}
	histAfter(t, l, start, histT0, nil, "")
	events := histAppend(t, l, 3, histT0)
	events = append(events, histAppend(t, l, 20, histT0.Add(time.Second))...)
	// Short ids from a charset that needs no CORS preflight (DESIGN §3).
	idChars := regexp.MustCompile(`^[0-9A-Za-z._:-]+$`)
	var prev uint64
	for i, e := range events {
		if want := epoch + "-" + strconv.Itoa(i+1); e.ID != want {
			t.Fatalf("event %d: id %q, want %q", i, e.ID, want)
		}
		if !idChars.MatchString(e.ID) || len(e.ID) >= 128 {
			t.Fatalf("id %q is not short and in [0-9A-Za-z._:-]", e.ID)
		}
		ep, seq, ok := ParseID(e.ID)
		if !ok || ep != epoch || seq <= prev {
			t.Fatalf("id %q: epoch %q seq %d ok %v; ids must increase strictly", e.ID, ep, seq, ok)
		}
		prev = seq
	}
	if !events[0].Time.Equal(histT0) || !events[5].Time.Equal(histT0.Add(time.Second)) {
		t.Fatalf("Append must stamp events with the time it is given")
	}
	if l.LastID() != events[len(events)-1].ID {
		t.Fatalf("LastID = %q, want %q", l.LastID(), events[len(events)-1].ID)
	}
	if l.Len() != 10 {
		t.Fatalf("Len = %d, want the history size 10", l.Len())
	}

	// Resuming from the start id of a log that has not overflowed gets all.
	l2 := newMemoryLog(10, 0, histT0)
	start2 := l2.LastID()
	all := histAppend(t, l2, 4, histT0)
	histAfter(t, l2, start2, histT0, all, "")
}

func TestMemoryLogAfter(t *testing.T) {
	l := newMemoryLog(10, 0, histT0)
	ev := histAppend(t, l, 5, histT0)
	histAfter(t, l, ev[1].ID, histT0, ev[2:], "")
	histAfter(t, l, ev[0].ID, histT0, ev[1:], "")
	histAfter(t, l, ev[4].ID, histT0, nil, "")

	// The selectors filter without making the list incomplete, and events
	// for one connection are never replayed.
	ev[3].Topics = []string{"b"}
	ev[2].Connection = "c1"
	got, reason := l.After(ev[0].ID, histT0, []string{"a"})
	if reason != "" || !slices.Equal(histIDs(got), []string{ev[1].ID, ev[4].ID}) {
		t.Fatalf("After with a filter = %v, %q", histIDs(got), reason)
	}
}

func TestMemoryLogAfterResets(t *testing.T) {
	l := newMemoryLog(10, 0, histT0)
	ev := histAppend(t, l, 5, histT0)
	epoch := l.epoch

	other := newMemoryLog(10, 0, histT0.Add(-time.Hour))
	old := histAppend(t, other, 3, histT0.Add(-time.Hour))

	tests := []struct {
		name string
		id   string
		want ResetReason
	}{
		{"earlier epoch", old[2].ID, ResetEpoch},
		{"earlier epoch, seq in range", old[0].ID, ResetEpoch},
		{"newer than the last", epoch + "-6", ResetUnknown},
		{"far newer than the last", epoch + "-99999999", ResetUnknown},
		{"not an id", "hello", ResetUnknown},
		{"empty", "", ResetUnknown},
		{"no epoch", "-3", ResetUnknown},
		{"no sequence", epoch + "-", ResetUnknown},
		{"sequence not a number", epoch + "-3x", ResetUnknown},
		{"sequence overflows", epoch + "-99999999999999999999999", ResetUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := l.After(tt.id, histT0, histAll)
			if reason != tt.want {
				t.Fatalf("After(%q): reason %q, want %q", tt.id, reason, tt.want)
			}
			if len(got) != 0 {
				t.Fatalf("After(%q) returned %d events with reason %q, want none", tt.id, len(got), reason)
			}
		})
	}
	// The log is unharmed by them.
	histAfter(t, l, ev[2].ID, histT0, ev[3:], "")
}

func TestMemoryLogOverflow(t *testing.T) {
	l := newMemoryLog(3, 0, histT0)
	ev := histAppend(t, l, 10, histT0)
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3", l.Len())
	}
	// ev[7..9] are kept; an id whose successor is kept resumes completely.
	histAfter(t, l, ev[6].ID, histT0, ev[7:], "")
	histAfter(t, l, ev[8].ID, histT0, ev[9:], "")
	// Older ids lost events: what is kept comes with ResetExpired.
	histAfter(t, l, ev[5].ID, histT0, ev[7:], ResetExpired)
	histAfter(t, l, ev[0].ID, histT0, ev[7:], ResetExpired)
	histAfter(t, l, l.epoch+"-0", histT0, ev[7:], ResetExpired)
}

func TestMemoryLogMaxAge(t *testing.T) {
	l := newMemoryLog(10, time.Minute, histT0)
	ev := histAppend(t, l, 2, histT0)
	ev = append(ev, histAppend(t, l, 1, histT0.Add(2*time.Minute))...)

	// Not yet old: complete.
	histAfter(t, l, ev[0].ID, histT0.Add(time.Minute), ev[1:], "")

	now := histT0.Add(90 * time.Second) // ev[0] and ev[1] are over a minute old
	histAfter(t, l, ev[0].ID, now, ev[2:], ResetExpired)
	// The client that saw the last expired event misses nothing.
	histAfter(t, l, ev[1].ID, now, ev[2:], "")
	if l.Len() != 1 {
		t.Fatalf("Len after expiry = %d, want 1", l.Len())
	}

	later := histT0.Add(time.Hour) // everything expired
	histAfter(t, l, ev[1].ID, later, nil, ResetExpired)
	histAfter(t, l, ev[2].ID, later, nil, "")
	if l.Len() != 0 || l.LastID() != ev[2].ID {
		t.Fatalf("all expired: Len %d LastID %q; want 0 and %q", l.Len(), l.LastID(), ev[2].ID)
	}

	// The ring keeps working after expiring everything.
	more := histAppend(t, l, 2, later)
	histAfter(t, l, ev[2].ID, later, more, "")
}

func TestMemoryLogSizeZero(t *testing.T) {
	l := newMemoryLog(0, 0, histT0)
	ev := histAppend(t, l, 3, histT0)
	if l.Len() != 0 {
		t.Fatalf("Len = %d, want 0", l.Len())
	}
	if l.LastID() != ev[2].ID {
		t.Fatalf("LastID = %q, want %q: ids are assigned without history", l.LastID(), ev[2].ID)
	}
	histAfter(t, l, ev[0].ID, histT0, nil, ResetExpired)
	histAfter(t, l, ev[2].ID, histT0, nil, "")
}

func TestMemoryLogConfigure(t *testing.T) {
	t.Run("shrink keeps the newest", func(t *testing.T) {
		l := newMemoryLog(5, 0, histT0)
		ev := histAppend(t, l, 5, histT0)
		l.Configure(2, 0)
		if l.Len() != 2 || l.LastID() != ev[4].ID {
			t.Fatalf("Len %d LastID %q; want 2 and %q", l.Len(), l.LastID(), ev[4].ID)
		}
		histAfter(t, l, ev[2].ID, histT0, ev[3:], "")
		histAfter(t, l, ev[1].ID, histT0, ev[3:], ResetExpired)
		more := histAppend(t, l, 3, histT0)
		histAfter(t, l, more[0].ID, histT0, more[1:], "")
	})
	t.Run("shrink a wrapped ring", func(t *testing.T) {
		l := newMemoryLog(4, 0, histT0)
		ev := histAppend(t, l, 7, histT0) // ring wrapped: start is not 0
		l.Configure(3, 0)
		histAfter(t, l, ev[3].ID, histT0, ev[4:], "")
	})
	t.Run("grow keeps all", func(t *testing.T) {
		l := newMemoryLog(3, 0, histT0)
		ev := histAppend(t, l, 5, histT0) // ring wrapped
		l.Configure(10, 0)
		if l.Len() != 3 {
			t.Fatalf("Len = %d, want 3", l.Len())
		}
		histAfter(t, l, ev[1].ID, histT0, ev[2:], "")
		ev = append(ev, histAppend(t, l, 7, histT0)...)
		if l.Len() != 10 {
			t.Fatalf("Len = %d, want 10", l.Len())
		}
		histAfter(t, l, ev[1].ID, histT0, ev[2:], "")
		histAfter(t, l, ev[0].ID, histT0, ev[2:], ResetExpired)
	})
	t.Run("to zero and back", func(t *testing.T) {
		l := newMemoryLog(3, 0, histT0)
		ev := histAppend(t, l, 3, histT0)
		l.Configure(0, 0)
		if l.Len() != 0 {
			t.Fatalf("Len = %d, want 0", l.Len())
		}
		l.Configure(3, 0)
		histAfter(t, l, ev[0].ID, histT0, nil, ResetExpired)
		more := histAppend(t, l, 2, histT0)
		histAfter(t, l, ev[2].ID, histT0, more, "")
	})
	t.Run("max age alone", func(t *testing.T) {
		l := newMemoryLog(3, 0, histT0)
		ev := histAppend(t, l, 3, histT0)
		l.Configure(3, time.Second)
		histAfter(t, l, ev[0].ID, histT0.Add(time.Minute), nil, ResetExpired)
	})
}

// histPublish stores one event per topic list at now.
func histPublish(t *testing.T, l *memoryLog, now time.Time, topics ...[]string) []*Event {
	t.Helper()
	events := make([]*Event, len(topics))
	for i, tt := range topics {
		events[i] = &Event{Topics: tt, Data: strconv.Itoa(i)}
	}
	l.Append(events, now)
	return events
}

// histRepeat is n copies of one topic list.
func histRepeat(n int, topics ...string) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = topics
	}
	return out
}

// A subscriber that missed nothing on its topics resumes without a reset,
// however many events of other topics left the history meanwhile (issue 7).
func TestMemoryLogQuietTopicResumes(t *testing.T) {
	tests := []struct {
		name      string
		before    [][]string // published before the subscriber's last id
		after     [][]string // published after it; history 10 drops some
		selectors []string
		want      ResetReason
	}{
		{"quiet exact topic", [][]string{{"a"}}, histRepeat(20, "b"), []string{"a"}, ""},
		{"busy topic was dropped", [][]string{{"a"}}, histRepeat(20, "b"), []string{"b"}, ResetExpired},
		{"star sees every drop", [][]string{{"a"}}, histRepeat(20, "b"), []string{"*"}, ResetExpired},
		{"quiet prefix", [][]string{{"news/uk"}}, histRepeat(20, "sport/uk"), []string{"news/*"}, ""},
		{"prefix matches a dropped topic", nil, append([][]string{{"news/fr"}}, histRepeat(20, "b")...), []string{"news/*"}, ResetExpired},
		{"one of several selectors was dropped", nil, append([][]string{{"x"}}, histRepeat(20, "b")...), []string{"a", "x"}, ResetExpired},
		{"one of an event's topics matches", nil, append([][]string{{"b", "a"}}, histRepeat(20, "b")...), []string{"a"}, ResetExpired},
		{"dropped before the id does not count", append([][]string{{"a"}}, histRepeat(5, "b")...), histRepeat(20, "b"), []string{"a"}, ""},
		{"kept events of the topic are replayed, not reset", nil, append(histRepeat(15, "b"), []string{"a"}), []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newMemoryLog(10, 0, histT0)
			histPublish(t, l, histT0, tt.before...)
			last := l.LastID()
			after := histPublish(t, l, histT0, tt.after...)
			got, reason := l.After(last, histT0, tt.selectors)
			if reason != tt.want {
				t.Fatalf("After(%q, %v): reason %q, want %q", last, tt.selectors, reason, tt.want)
			}
			// What is kept and matches is replayed all the same.
			var want []*Event
			for _, e := range after[len(after)-10:] {
				if MatchesAny(tt.selectors, e.Topics) {
					want = append(want, e)
				}
			}
			if !slices.Equal(histIDs(got), histIDs(want)) {
				t.Fatalf("After = %v, want %v", histIDs(got), histIDs(want))
			}
		})
	}
}

// Every way an event leaves the history feeds the summary: overflow, age,
// shrinking, and a history of size zero; events for one connection never
// count, as they are never replayed.
func TestMemoryLogDroppedSummarySources(t *testing.T) {
	t.Run("age", func(t *testing.T) {
		l := newMemoryLog(100, time.Minute, histT0)
		histPublish(t, l, histT0, []string{"a"})
		last := l.LastID()
		histPublish(t, l, histT0, histRepeat(3, "b")...)
		later := histT0.Add(time.Hour)
		histAfterFor(t, l, last, later, []string{"a"}, nil, "")
		histAfterFor(t, l, last, later, []string{"b"}, nil, ResetExpired)
	})
	t.Run("shrink", func(t *testing.T) {
		l := newMemoryLog(10, 0, histT0)
		histPublish(t, l, histT0, []string{"a"})
		last := l.LastID()
		histPublish(t, l, histT0, histRepeat(5, "b")...)
		l.Configure(2, 0)
		if _, reason := l.After(last, histT0, []string{"a"}); reason != "" {
			t.Fatalf("quiet a after a shrink: reason %q", reason)
		}
		if _, reason := l.After(last, histT0, []string{"b"}); reason != ResetExpired {
			t.Fatalf("b after a shrink dropped 3 of its events: reason %q", reason)
		}
	})
	t.Run("size zero", func(t *testing.T) {
		l := newMemoryLog(0, 0, histT0)
		histPublish(t, l, histT0, []string{"a"})
		last := l.LastID()
		histPublish(t, l, histT0, histRepeat(3, "b")...)
		histAfterFor(t, l, last, histT0, []string{"a"}, nil, "")
		histAfterFor(t, l, last, histT0, []string{"b"}, nil, ResetExpired)
	})
	t.Run("connection events", func(t *testing.T) {
		l := newMemoryLog(2, 0, histT0)
		last := l.LastID()
		targeted := []*Event{{Topics: []string{"a"}, Connection: "c1"}, {Connection: "c2"}}
		l.Append(targeted, histT0)
		histPublish(t, l, histT0, histRepeat(2, "b")...)
		histAfterFor(t, l, last, histT0, []string{"a"}, nil, "")
	})
}

// The summary holds droppedTopicsKept topics; a resume from before the
// point where it had to forget gets a reset, one after it does not.
func TestMemoryLogDroppedSummaryBound(t *testing.T) {
	l := newMemoryLog(1, 0, histT0)
	histPublish(t, l, histT0, []string{"quiet"})
	early := l.LastID()
	topics := make([][]string, DroppedTopicsKept)
	for i := range topics {
		topics[i] = []string{"t" + strconv.Itoa(i)}
	}
	// Exactly droppedTopicsKept topics leave after early (the last of
	// them stays in the ring; "quiet" left too): it still knows.
	histPublish(t, l, histT0, topics...)
	histPublish(t, l, histT0, []string{"x"})
	if _, reason := l.After(early, histT0, []string{"quiet"}); reason != "" {
		t.Fatalf("with %d topics dropped after the id: reason %q, want none", DroppedTopicsKept, reason)
	}
	mid := l.LastID()
	// One more distinct topic: the summary forgets its oldest entry.
	histPublish(t, l, histT0, []string{"y"}, []string{"z"})
	if _, reason := l.After(early, histT0, []string{"quiet"}); reason != ResetExpired {
		t.Fatalf("beyond the bound: reason %q, want %q", reason, ResetExpired)
	}
	if _, reason := l.After(mid, histT0, []string{"quiet"}); reason != "" {
		t.Fatalf("a newer id is still covered: reason %q", reason)
	}
}

func TestDroppedTopics(t *testing.T) {
	d := NewDroppedTopics(3)
	ev := func(topics ...string) *Event { return &Event{Topics: topics} }
	d.Add(ev("a"), 1)
	d.Add(ev("b", "c"), 2)
	d.Add(ev("a"), 3) // a moves to the newest end
	tests := []struct {
		after     uint64
		selectors []string
		missed    bool
		known     bool
	}{
		{0, []string{"a"}, true, true},
		{2, []string{"b"}, false, true},
		{1, []string{"b"}, true, true},
		{1, []string{"x/*"}, false, true},
		{2, []string{"*"}, true, true},
		{3, []string{"*"}, false, true},
	}
	for _, tt := range tests {
		missed, known := d.Missed(tt.after, tt.selectors)
		if missed != tt.missed || known != tt.known {
			t.Errorf("missed(%d, %v) = %v, %v; want %v, %v", tt.after, tt.selectors, missed, known, tt.missed, tt.known)
		}
	}
	// A fourth topic evicts the oldest (b at 2): below 2 it cannot tell.
	d.Add(ev("d"), 4)
	if len(d.byTopic) != 3 || d.byTopic["b"] != nil || d.floor != 2 {
		t.Fatalf("after eviction: %d topics, b %v, floor %d", len(d.byTopic), d.byTopic["b"], d.floor)
	}
	if _, known := d.Missed(1, []string{"zzz"}); known {
		t.Errorf("below the floor the summary must not claim to know")
	}
	if missed, known := d.Missed(2, []string{"b"}); missed || !known {
		t.Errorf("at the floor: missed %v known %v; want false, true", missed, known)
	}
	if missed, _ := d.Missed(3, []string{"d"}); !missed {
		t.Errorf("d dropped at 4 was missed after 3")
	}
}
