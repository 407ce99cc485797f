package caddysse

import (
	"strings"
	"testing"

	"github.com/caddy-sse/caddy-sse/hub"
)

func TestPollBound(t *testing.T) {
	events := func(n, size int) []*hub.Event {
		out := make([]*hub.Event, n)
		for i := range out {
			out[i] = &hub.Event{Data: strings.Repeat("d", size)}
		}
		return out
	}
	tests := []struct {
		name   string
		events []*hub.Event
		want   int
	}{
		{"none", nil, 0},
		{"one", events(1, 10), 1},
		{"as many as allowed", events(maxPollEvents, 10), maxPollEvents},
		{"one too many", events(maxPollEvents+1, 10), maxPollEvents},
		{"empty events count too", events(maxPollEvents+5, 0), maxPollEvents},
		{"data exactly at the cap", events(4, maxPollData/4), 4},
		{"data one byte over the cap", append(events(4, maxPollData/4), events(1, 1)...), 4},
		{"a large event comes alone", events(3, maxPollData+1), 1},
		{"large events one by one", events(3, maxPollData/2+1), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pollBound(tt.events); got != tt.want {
				t.Fatalf("pollBound(%d events) = %d, want %d", len(tt.events), got, tt.want)
			}
		})
	}
}
