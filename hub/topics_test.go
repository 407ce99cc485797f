package hub

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkPublishIndex publishes one event that one of 5,000 subscribers
// wants, each subscriber holding 64 selectors of its own: prefix selectors
// ("s17/t5/*", 320,000 distinct prefixes), against the same subscribers on
// exact topics ("s17/t5"). A publish should cost about the same either way.
func BenchmarkPublishIndex(b *testing.B) {
	const subscribers, perSubscriber, drainEvery = 5000, 64, 20_000
	for _, kind := range []string{"exact", "prefix"} {
		b.Run(kind, func(b *testing.B) {
			h := hubtestNew(b, Config{Retention: Retention{History: 1000}})
			subs := make([]*Subscriber, subscribers)
			for i := range subs {
				sels := make([]string, perSubscriber)
				for j := range sels {
					sels[j] = fmt.Sprintf("s%d/t%d", i, j)
					if kind == "prefix" {
						sels[j] += "/*"
					}
				}
				subs[i] = hubtestJoin(b, h, "c"+strconv.Itoa(i), drainEvery, "", sels...).Subscriber
			}
			topics := make([]string, subscribers)
			for i := range topics {
				topics[i] = fmt.Sprintf("s%d/t%d", i, i%perSubscriber)
				if kind == "prefix" {
					topics[i] += "/x"
				}
			}
			drain := func() {
				for _, s := range subs {
					if _, _, closed, reason := takeAll(s, nil); closed {
						b.Fatalf("%s closed: %s", s.ID, reason)
					}
				}
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				counts, err := publish(h, []*Event{{Topics: []string{topics[i%subscribers]}, Data: "x"}})
				if err != nil || counts[0] != 1 {
					b.Fatalf("publish to %s: %v subscribers, %v", topics[i%subscribers], counts, err)
				}
				if i++; i%drainEvery == 0 {
					b.StopTimer()
					drain()
					b.StartTimer()
				}
			}
		})
	}
}

// indexVisits returns, for each subscriber the index visits for topic, how
// many times it was visited.
func indexVisits(ix *topicIndex, topic string) map[string]int {
	got := make(map[string]int)
	ix.each(topic, func(s *Subscriber) { got[s.ID]++ })
	return got
}

// wantVisits is what each must visit: every subscriber once per selector
// that matches topic.
func wantVisits(subs []*Subscriber, topic string) map[string]int {
	want := make(map[string]int)
	for _, s := range subs {
		for _, sel := range s.Topics {
			if SelectorMatches(sel, topic) {
				want[s.ID]++
			}
		}
	}
	return want
}

// prefixLengths are the distinct lengths of the subscribers' prefixes.
func prefixLengths(subs []*Subscriber) []int {
	var n []int
	for _, s := range subs {
		for _, sel := range s.Topics {
			if prefix, ok := strings.CutSuffix(sel, "*"); ok {
				n = append(n, len(prefix))
			}
		}
	}
	slices.Sort(n)
	return slices.Compact(n)
}

func assertIndexEmpty(t *testing.T, ix *topicIndex) {
	t.Helper()
	if len(ix.exact) != 0 || len(ix.prefixes) != 0 || len(ix.lengths) != 0 || len(ix.byLength) != 0 {
		t.Fatalf("index not empty after every removal: exact %v, prefixes %v, lengths %v, byLength %v",
			ix.exact, ix.prefixes, ix.lengths, ix.byLength)
	}
}

func TestTopicIndex(t *testing.T) {
	tests := []struct {
		name    string
		subs    map[string][]string // subscriber id: selectors
		removed []string            // subscribers removed before the lookups
		topics  []string
	}{
		{
			name:   "exact and prefix of one topic",
			subs:   map[string][]string{"a": {"news/uk"}, "b": {"news/*"}, "c": {"news/uk*"}, "d": {"sport"}},
			topics: []string{"news/uk", "news/ukraine", "news/us", "news", "news/", "sport", "sports"},
		},
		{
			name:   "overlapping prefixes of one subscriber",
			subs:   map[string][]string{"a": {"n*", "ne*", "news/*", "news/uk"}, "b": {"news/*"}},
			topics: []string{"news/uk", "new", "n", "x"},
		},
		{
			name:   "the empty prefix matches everything",
			subs:   map[string][]string{"all": {"*"}, "a": {"a*"}},
			topics: []string{"a", "b", "ab/c"},
		},
		{
			name:   "a prefix longer than the topic",
			subs:   map[string][]string{"a": {"abcdef*"}, "b": {"abc"}},
			topics: []string{"abc", "abcde", "abcdef", "abcdefg"},
		},
		{
			name:    "removal keeps the other holders of a prefix",
			subs:    map[string][]string{"a": {"news/*"}, "b": {"news/*", "x*"}, "c": {"sport/*"}},
			removed: []string{"a", "c"},
			topics:  []string{"news/uk", "sport/f1", "xyz"},
		},
		{
			name:    "removal of the only prefix of a length",
			subs:    map[string][]string{"a": {"ab*"}, "b": {"abcd*"}, "c": {"xy*"}},
			removed: []string{"b"},
			topics:  []string{"abcd", "abz", "xyz"},
		},
		{
			name:   "multibyte prefixes compare bytes",
			subs:   map[string][]string{"a": {"é*"}, "b": {"\xc3*"}},
			topics: []string{"été", "ç", "e"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := newTopicIndex()
			var subs, gone []*Subscriber
			for id, sels := range tt.subs {
				s := NewSubscriber(id, sels, 1, time.Now())
				ix.add(s)
				if slices.Contains(tt.removed, id) {
					gone = append(gone, s)
				} else {
					subs = append(subs, s)
				}
			}
			for _, s := range gone {
				ix.remove(s)
			}
			for _, topic := range tt.topics {
				if got, want := indexVisits(&ix, topic), wantVisits(subs, topic); !maps.Equal(got, want) {
					t.Errorf("each(%q) visited %v, want %v", topic, got, want)
				}
			}
			if got, want := ix.lengths, prefixLengths(subs); !slices.Equal(got, want) {
				t.Errorf("prefix lengths %v, want %v", got, want)
			}
			for _, s := range subs {
				ix.remove(s)
				ix.remove(s) // removing twice is harmless
			}
			assertIndexEmpty(t, &ix)
		})
	}
}

// FuzzSelector checks that checkSelector, selectorMatches, the topic index
// and the hub agree: a published topic reaches exactly the subscribers with
// a valid selector that matches it. Selectors come as one string split at
// LF, which no valid selector contains.
func FuzzSelector(f *testing.F) {
	seeds := []struct{ sels, topic string }{
		{"news/*", "news/uk"},
		{"news/*\nnews/uk\nnews/uk*", "news/uk"},
		{"*", "anything"},
		{"*\na*\nab*\nabc", "abc"},
		{"a*b\n**\n\n", "ab"},
		{"é*\n\xc3*", "été"},
		{"news/uk", "news/uk/london"},
		{"x\x00*", "x\x00y"},
		{strings.Repeat("p", MaxTopicLen) + "\n" + strings.Repeat("q", MaxTopicLen+1), strings.Repeat("p", MaxTopicLen)},
	}
	for _, s := range seeds {
		f.Add(s.sels, s.topic)
	}
	f.Fuzz(func(t *testing.T, sels, topic string) {
		var valid []string
		for _, sel := range strings.Split(sels, "\n") {
			if CheckSelector(sel) == nil {
				valid = append(valid, sel)
			} else if strings.HasSuffix(sel, "*") && !strings.Contains(sel[:len(sel)-1], "*") && CheckField("topic", sel, MaxTopicLen) == nil {
				t.Fatalf("checkSelector refused %q, a well-formed prefix selector", sel)
			}
		}
		if len(valid) > MaxTopics {
			valid = valid[:MaxTopics]
		}
		ix := newTopicIndex()
		subs := make([]*Subscriber, len(valid))
		for i, sel := range valid {
			subs[i] = NewSubscriber("s"+strconv.Itoa(i), []string{sel}, 1, time.Now())
			ix.add(subs[i])
		}
		if got, want := indexVisits(&ix, topic), wantVisits(subs, topic); !maps.Equal(got, want) {
			t.Fatalf("selectors %q, topic %q: index visits %v, want %v", valid, topic, got, want)
		}

		// Through the hub, when the topic may be published to.
		e := &Event{Topics: []string{topic}}
		if e.Validate(1<<20) == nil {
			h := hubtestNew(t, Config{})
			defer h.Close()
			for i, sel := range valid {
				if _, err := h.Subscribe(context.Background(), NewSubscriber("s"+strconv.Itoa(i), []string{sel}, 1, time.Now()), ""); err != nil {
					t.Fatal(err)
				}
			}
			counts, err := publish(h, []*Event{e})
			if err != nil {
				t.Fatal(err)
			}
			if want := len(wantVisits(subs, topic)); counts[0] != want {
				t.Fatalf("selectors %q, topic %q: delivered to %d, want %d", valid, topic, counts[0], want)
			}
		}

		for _, s := range subs {
			ix.remove(s)
		}
		assertIndexEmpty(t, &ix)
	})
}
