package caddysse

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

var histT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// histAppend stores n events on topic "a" (data "1", "2", ...) at now.
func histAppend(t *testing.T, l Log, n int, now time.Time) []*Event {
	t.Helper()
	events := make([]*Event, n)
	for i := range events {
		events[i] = &Event{Topics: []string{"a"}, Data: strconv.Itoa(i + 1)}
	}
	if err := l.Append(events, now); err != nil {
		t.Fatalf("Append: %v", err)
	}
	return events
}

func histKeepAll(*Event) bool { return true }

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
	got, reason := l.After(lastID, now, histKeepAll)
	if reason != wantReason {
		t.Errorf("After(%q): reason %q, want %q", lastID, reason, wantReason)
	}
	if !slices.Equal(histIDs(got), histIDs(want)) {
		t.Errorf("After(%q) = %v, want %v", lastID, histIDs(got), histIDs(want))
	}
}

func TestMemoryLogIDs(t *testing.T) {
	l := newMemoryLog(10, 0, histT0)
	epoch := strconv.FormatInt(histT0.UnixMilli(), 36)
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
		ep, seq, ok := parseID(e.ID)
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

	// keep filters without making the list incomplete.
	ev[3].Topics = []string{"b"}
	got, reason := l.After(ev[0].ID, histT0, func(e *Event) bool { return e.Topics[0] == "a" })
	if reason != "" || !slices.Equal(histIDs(got), []string{ev[1].ID, ev[2].ID, ev[4].ID}) {
		t.Fatalf("After with a filter = %v, %q", histIDs(got), reason)
	}
}

func TestMemoryLogAfterResets(t *testing.T) {
	l := newMemoryLog(10, 0, histT0)
	ev := histAppend(t, l, 5, histT0)
	epoch := strconv.FormatInt(histT0.UnixMilli(), 36)

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
			got, reason := l.After(tt.id, histT0, histKeepAll)
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
	histAfter(t, l, strconv.FormatInt(histT0.UnixMilli(), 36)+"-0", histT0, ev[7:], ResetExpired)
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
