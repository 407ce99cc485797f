package caddysse

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
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

// statsTicker is the one timer of a hub's stats events, run by its sweep
// goroutine; it is nil while the hub has no stats topic.
type statsTicker struct {
	t    *time.Ticker
	prev statsSample
}

// c is the ticker's channel, nil (never ready) while stopped.
func (st *statsTicker) c() <-chan time.Time {
	if st.t == nil {
		return nil
	}
	return st.t.C
}

// configure follows the hub's settings: it stops the ticker when the hub
// has no stats topic, else (re)starts it at the interval and publishes a
// snapshot at once, so a reload that turns stats on shows them right away.
func (st *statsTicker) configure(h *Hub, now time.Time) {
	cfg := h.Config()
	if cfg.StatsTopic == "" {
		st.stop()
		st.prev = statsSample{}
		return
	}
	interval := cfg.StatsInterval
	if interval <= 0 {
		interval = defaultStatsInterval
	}
	if st.t == nil {
		st.t = time.NewTicker(interval)
	} else {
		st.t.Reset(interval)
	}
	h.publishStats(now, &st.prev)
}

func (st *statsTicker) stop() {
	if st.t != nil {
		st.t.Stop()
		st.t = nil
	}
}

// publishStats sends the hub's counters to its stats topic and keeps the
// event for the topic's next subscribers. prev is the previous sample, for
// the rates; it is updated.
func (h *Hub) publishStats(now time.Time, prev *statsSample) {
	cfg := h.Config()
	if cfg.StatsTopic == "" {
		return
	}
	rep := statsReport{hubReport: newHubReport(cfg.Name, h, statsTopTopics), Time: now}
	if !prev.at.IsZero() {
		if elapsed := now.Sub(prev.at).Seconds(); elapsed > 0 {
			rep.IntervalSeconds = elapsed
			rep.PublishRate = float64(rep.Published-prev.published) / elapsed
			rep.DeliverRate = float64(rep.Delivered-prev.delivered) / elapsed
		}
	}
	*prev = statsSample{at: now, published: rep.Published, delivered: rep.Delivered}
	data, _ := json.Marshal(rep) // numbers, strings and maps of them
	e := &Event{Topics: []string{cfg.StatsTopic}, Name: statsEventName, Data: string(data), Time: now}
	e.Wire()

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || h.cfg.StatsTopic != cfg.StatsTopic {
		return // closed or reconfigured meanwhile
	}
	h.latestStats = e
	h.fanOut(e)
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
	if err := CheckField("stats_topic", h.StatsTopic, MaxTopicLen); err != nil {
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
