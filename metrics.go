package caddysse

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/prometheus/client_golang/prometheus"
)

// The hub's metrics are read from its counters when Prometheus scrapes:
// one collector walks the hubs of the pool, so nothing on the fan-out path
// does anything for metrics beyond the atomic adds the hub makes anyway.
// Every metric is labelled by hub; reasons and statuses are small fixed
// sets, so the cardinality stays bounded however many topics and
// connections there are.

var (
	hubLabel = []string{"hub"}

	descSubscribers = prometheus.NewDesc("caddy_sse_subscribers",
		"Open subscriptions (streams and long-polls).", hubLabel, nil)
	descConnections = prometheus.NewDesc("caddy_sse_connections_total",
		"Subscriptions accepted.", hubLabel, nil)
	descPublished = prometheus.NewDesc("caddy_sse_events_published_total",
		"Events stored by the hub.", hubLabel, nil)
	descDelivered = prometheus.NewDesc("caddy_sse_events_delivered_total",
		"Events queued to subscribers, one per subscriber reached.", hubLabel, nil)
	descDropped = prometheus.NewDesc("caddy_sse_subscribers_dropped_total",
		"Subscribers disconnected by the hub: queue_full, write_failed or admin.", []string{"hub", "reason"}, nil)
	descReplayed = prometheus.NewDesc("caddy_sse_events_replayed_total",
		"Events sent from history to resuming subscribers.", hubLabel, nil)
	descResets = prometheus.NewDesc("caddy_sse_resets_total",
		"Resumes that could not be complete and got a reset, by reason.", []string{"hub", "reason"}, nil)
	descPublishErrors = prometheus.NewDesc("caddy_sse_publish_errors_total",
		"Publish requests refused, and refused lines of streaming publishes, by HTTP status.", []string{"hub", "status"}, nil)
	descPublishDuration = prometheus.NewDesc("caddy_sse_publish_duration_seconds",
		"Time to handle a publish request, from its start to its answer.", hubLabel, nil)
	descTransportUp = prometheus.NewDesc("caddy_sse_transport_up",
		"1 while the hub's transport can store events, else 0; the memory transport is always up.", hubLabel, nil)
)

// hubCollector reads every hub's counters at scrape time.
type hubCollector struct{}

var collector hubCollector

// registerMetrics adds the hubs' collector to a config's registry. Every
// handler of a config tries; the first one registers it.
func registerMetrics(reg *prometheus.Registry) error {
	err := reg.Register(collector)
	if errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descSubscribers, descConnections, descPublished, descDelivered, descDropped,
		descReplayed, descResets, descPublishErrors, descPublishDuration, descTransportUp,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (hubCollector) Collect(ch chan<- prometheus.Metric) {
	hubs.Range(func(key, value any) bool {
		name, e := key.(string), value.(*hubEntry)
		st := e.Stats()
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name}, labels...)...)
		}
		ch <- prometheus.MustNewConstMetric(descSubscribers, prometheus.GaugeValue, float64(st.Subscribers.Load()), name)
		counter(descConnections, st.Connections.Load())
		counter(descPublished, st.Published.Load())
		counter(descDelivered, st.Delivered.Load())
		counter(descReplayed, st.Replayed.Load())
		for _, reason := range hub.DroppedReasons {
			counter(descDropped, st.Ended.Get(reason), string(reason))
		}
		for _, reason := range hub.ResetReasons {
			counter(descResets, st.Resets.Get(reason), string(reason))
		}
		for i := range e.publish.errors {
			if n := e.publish.errors[i].Load(); n > 0 {
				counter(descPublishErrors, n, strconv.Itoa(400+i))
			}
		}
		ch <- e.publish.histogram(name)
		up := 1.0
		if e.TransportErr() != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(descTransportUp, prometheus.GaugeValue, up, name)
		return true
	})
}

// publishBuckets are the upper bounds of the publish duration histogram,
// in seconds: a publish to memory takes microseconds, to a remote
// transport milliseconds.
var publishBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// publishStats counts a hub's publish requests: errors by status (4xx and
// 5xx) and a histogram of their durations, all atomics.
type publishStats struct {
	errors  [200]atomic.Uint64
	buckets [len(publishBuckets) + 1]atomic.Uint64 // the last is +Inf
	nanos   atomic.Uint64
}

// observe records one publish request's status and duration.
func (p *publishStats) observe(status int, d time.Duration) {
	if status >= 400 && status < 600 {
		p.errors[status-400].Add(1)
	}
	i := len(publishBuckets)
	for j, bound := range publishBuckets {
		if d.Seconds() <= bound {
			i = j
			break
		}
	}
	p.buckets[i].Add(1)
	p.nanos.Add(uint64(max(d, 0)))
}

// histogram is the duration histogram as a Prometheus metric. Read while
// publishes go on, its count may be a publish or two ahead of its buckets;
// the count is taken from the buckets so the two agree.
func (p *publishStats) histogram(hub string) prometheus.Metric {
	cumulative := make(map[float64]uint64, len(publishBuckets))
	var n uint64
	for i, bound := range publishBuckets {
		n += p.buckets[i].Load()
		cumulative[bound] = n
	}
	n += p.buckets[len(publishBuckets)].Load()
	sum := time.Duration(p.nanos.Load()).Seconds()
	return prometheus.MustNewConstHistogram(descPublishDuration, n, sum, cumulative, hub)
}

// measuredPublish is publish, counted in the hub's publish metrics.
func (h *Handler) measuredPublish(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	err := h.publish(sw, r)
	h.publishStats.observe(sw.status, time.Since(start))
	return err
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
