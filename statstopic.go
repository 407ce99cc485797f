package caddysse

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
)

// A hub with a stats topic publishes its own counters to it every
// interval, so a dashboard is just another subscriber. A stats event is
// not stored and has no id, like the "connected" event: it takes no history
// slot, is not counted as published or delivered, never moves a client's
// Last-Event-ID, and polls (a cursor over the history) do not see it. It
// goes through the normal fan-out to every stream whose selectors match the
// topic, "*" included, and a new subscriber of the topic gets the latest one
// at once, so a dashboard is never empty for an interval.

// Defaults and bounds of stats_topic.
const (
	statsEventName       = "stats"
	defaultStatsInterval = 5 * time.Second
	minStatsInterval     = time.Second
	statsTopTopics       = 10 // busiest selectors in a stats event
)

// statsReport is the data of a stats event: the admin API's report of the
// hub, with the rates since the previous stats event.
type statsReport struct {
	hubReport
	// Time is when the counters were read.
	Time time.Time `json:"time"`
	// IntervalSeconds is the time the rates cover: since the previous stats
	// event, or 0 for the first, whose rates are 0.
	IntervalSeconds float64 `json:"interval_seconds"`
	// PublishRate is events stored per second over the interval.
	PublishRate float64 `json:"publish_rate"`
	// DeliverRate is events queued to subscribers per second over the
	// interval.
	DeliverRate float64 `json:"deliver_rate"`
}

// statsSample is what the previous stats event counted, for the rates.
type statsSample struct {
	at                   time.Time
	published, delivered uint64
}

// configureStats starts, restarts or stops the hub's stats events for this
// config's stats topic and interval; an empty topic stops them.
func (e *hubEntry) configureStats(topic string, interval time.Duration) {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	if e.statsStop != nil {
		close(e.statsStop)
		e.statsStop = nil
	}
	if topic == "" {
		e.Hub.Pin(nil)
		return
	}
	stop := make(chan struct{})
	e.statsStop = stop
	go e.publishStatsEvery(topic, cmp.Or(interval, defaultStatsInterval), stop)
}

// publishStatsEvery publishes a stats event at once, then every interval,
// until stop is closed or the hub closes.
func (e *hubEntry) publishStatsEvery(topic string, interval time.Duration, stop chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var prev statsSample
	e.publishStats(topic, time.Now(), &prev, stop)
	for {
		select {
		case <-stop:
			return
		case <-e.Hub.Done():
			return
		case now := <-t.C:
			e.publishStats(topic, now, &prev, stop)
		}
	}
}

// publishStats pins a stats event with the hub's report and the rates
// since prev, unless the loop of stop was replaced meanwhile.
func (e *hubEntry) publishStats(topic string, now time.Time, prev *statsSample, stop chan struct{}) {
	rep := statsReport{hubReport: newHubReport(e.name, e.Hub, statsTopTopics), Time: now}
	if !prev.at.IsZero() {
		if elapsed := now.Sub(prev.at).Seconds(); elapsed > 0 {
			rep.IntervalSeconds = elapsed
			rep.PublishRate = float64(rep.Published-prev.published) / elapsed
			rep.DeliverRate = float64(rep.Delivered-prev.delivered) / elapsed
		}
	}
	*prev = statsSample{at: now, published: rep.Published, delivered: rep.Delivered}
	data, _ := json.Marshal(rep) // numbers, strings and maps of them
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	if e.statsStop == stop {
		e.Hub.Pin(&hub.Event{Topics: []string{topic}, Name: statsEventName, Data: string(data), Time: now})
	}
}

// checkStats judges stats_topic and stats_interval. It runs in Provision,
// before a new hub is built from them.
func (h *Handler) checkStats() error {
	if h.StatsTopic == "" {
		if h.StatsInterval != 0 {
			return errors.New("stats_interval: set stats_topic too")
		}
		return nil
	}
	if err := hub.CheckField("stats_topic", h.StatsTopic, hub.MaxTopicLen); err != nil {
		return err
	}
	if strings.Contains(h.StatsTopic, "*") {
		return fmt.Errorf("stats_topic %q: must be an exact topic, without '*'", h.StatsTopic)
	}
	if d := time.Duration(h.StatsInterval); d != 0 && d < minStatsInterval {
		return fmt.Errorf("stats_interval %s: must be at least %s", d, minStatsInterval)
	}
	return nil
}
