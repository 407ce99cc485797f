package hub

import (
	"strconv"
	"testing"
	"time"
)

// FuzzParseID checks the Last-Event-ID handling of the memory log against
// any string a client can send: parseID never panics and takes apart every
// id the log produced; After resumes from an id of this log and epoch, and
// refuses anything else with ResetUnknown or ResetEpoch, replaying nothing.
func FuzzParseID(f *testing.F) {
	now := time.UnixMilli(1_700_000_000_000)
	ep := NewEpoch(now) // the epoch of every log below
	for _, id := range []string{
		"", "-", "-1", "1-", "a-b", ep + "-0", ep + "-1", ep + "-3", ep + "-4", ep + "-99",
		ep + "-003", ep + "--1", ep + "-+1", ep + "-18446744073709551615",
		ep + "-18446744073709551616", "zzzzzz-1", "a-" + ep + "-1", ep + "-1\x00", " " + ep + "-1",
	} {
		f.Add(id, uint8(3), uint8(2))
	}
	f.Add(ep+"-1", uint8(5), uint8(0))
	f.Add(ep+"-0", uint8(0), uint8(4))
	f.Fuzz(func(t *testing.T, lastID string, stored, kept uint8) {
		epoch, seq, ok := ParseID(lastID)
		if ok {
			canonical := epoch + "-" + strconv.FormatUint(seq, 10)
			if e2, s2, ok2 := ParseID(canonical); !ok2 || e2 != epoch || s2 != seq {
				t.Fatalf("parseID(%q) = %q, %d, but %q parses as %q, %d, %v", lastID, epoch, seq, canonical, e2, s2, ok2)
			}
		}

		l := newMemoryLogWithEpoch(int(kept), 0, ep)
		events := make([]*Event, stored)
		for i := range events {
			events[i] = &Event{Topics: []string{"t"}}
		}
		l.Append(events, now)
		for i, e := range events {
			ep, s, ok := ParseID(e.ID)
			if !ok || ep != l.epoch || s != uint64(i+1) {
				t.Fatalf("parseID(%q) = %q, %d, %v; want %q, %d", e.ID, ep, s, ok, l.epoch, i+1)
			}
		}
		if ep, s, ok := ParseID(l.LastID()); !ok || ep != l.epoch || s != uint64(stored) {
			t.Fatalf("LastID %q does not parse as the newest event", l.LastID())
		}

		replay, reason := l.After(lastID, now, []string{"*"})
		resumable := ok && epoch == l.epoch && seq <= uint64(stored)
		if !resumable {
			if reason != ResetUnknown && reason != ResetEpoch {
				t.Fatalf("After(%q) = %d events, reason %q; want a refusal", lastID, len(replay), reason)
			}
			if len(replay) != 0 {
				t.Fatalf("After(%q) refused with %q but replayed %d events", lastID, reason, len(replay))
			}
			return
		}
		// Resumable: the events after seq that are still kept, in order;
		// incomplete (expired) when some after seq were dropped.
		oldest := uint64(stored) - uint64(min(int(stored), int(kept))) + 1
		wantReason := ResetReason("")
		if seq+1 < oldest {
			wantReason = ResetExpired
		}
		if reason != wantReason {
			t.Fatalf("After(%q) reason %q, want %q (stored %d, kept %d)", lastID, reason, wantReason, stored, kept)
		}
		from := max(seq+1, oldest)
		if uint64(len(replay)) != uint64(stored)+1-from {
			t.Fatalf("After(%q) replayed %d events, want %d", lastID, len(replay), uint64(stored)+1-from)
		}
		for i, e := range replay {
			if e != events[from-1+uint64(i)] {
				t.Fatalf("After(%q) event %d is %s, want %s", lastID, i, e.ID, events[from-1+uint64(i)].ID)
			}
		}
	})
}
