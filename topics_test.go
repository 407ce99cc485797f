package caddysse

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkPublishIndex publishes one event that one of 5,000 subscribers
// wants, each subscriber holding 64 selectors of its own: prefix selectors
// ("s17/t5/*", 320,000 distinct prefixes), against the same subscribers on
// exact topics ("s17/t5"). A publish should cost about the same either way.
func BenchmarkPublishIndex(b *testing.B) {
	const subscribers, perSubscriber, drainEvery = 5000, 64, 20_000
	for _, kind := range []string{"exact", "prefix"} {
		b.Run(kind, func(b *testing.B) {
			h := hubtestNew(b, HubConfig{History: 1000})
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
					if _, _, closed, reason := s.take(nil); closed {
						b.Fatalf("%s closed: %s", s.ID, reason)
					}
				}
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				counts, err := h.Publish([]*Event{{Topics: []string{topics[i%subscribers]}, Data: "x"}})
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
