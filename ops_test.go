package caddysse

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-sse/caddy-sse/hub"
	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestPublishStatsHistogram(t *testing.T) {
	var p publishStats
	for _, tc := range []struct {
		status int
		d      time.Duration
	}{
		{200, 50 * time.Microsecond},
		{200, 300 * time.Microsecond},
		{400, 2 * time.Millisecond},
		{503, 10 * time.Second},
		{413, 0},
	} {
		p.observe(tc.status, tc.d)
	}
	var m dto.Metric
	if err := p.histogram("h").Write(&m); err != nil {
		t.Fatal(err)
	}
	hist := m.GetHistogram()
	if hist.GetSampleCount() != 5 {
		t.Errorf("count %d, want 5", hist.GetSampleCount())
	}
	if sum := hist.GetSampleSum(); sum < 10.00235 || sum > 10.00236 {
		t.Errorf("sum %v, want 10.00235", sum)
	}
	cumulative := make(map[float64]uint64)
	for _, b := range hist.GetBucket() {
		cumulative[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for bound, want := range map[float64]uint64{0.0001: 2, 0.00025: 2, 0.0005: 3, 0.0025: 4, 5: 4} {
		if got := cumulative[bound]; got != want {
			t.Errorf("bucket le=%v: %d, want %d", bound, got, want)
		}
	}
	for status, want := range map[int]uint64{400: 1, 413: 1, 503: 1, 404: 0} {
		if got := p.errors[status-400].Load(); got != want {
			t.Errorf("errors %d: %d, want %d", status, got, want)
		}
	}
}

// downTransport is a transport that cannot store events.
type downTransport struct{ hub.Transport }

func (downTransport) Healthy() error { return errors.New("redis is unreachable") }

// downOpener opens memory transports that say they are down.
type downOpener struct{}

func (downOpener) OpenTransport(cfg hub.TransportConfig) (hub.Transport, error) {
	t, err := hub.Memory{}.OpenTransport(cfg)
	return downTransport{t}, err
}

// poolHub puts a hub on the transport open opens into the pool, as
// Provision does, for the test.
func poolHub(t *testing.T, name string, open hub.Opener) *hubEntry {
	t.Helper()
	v, _, err := hubs.LoadOrNew(name, func() (caddy.Destructor, error) {
		return newHubEntry(name, hubSettings{History: new(10)}, open, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = hubs.Delete(name) })
	return v.(*hubEntry)
}

func TestTransportDown(t *testing.T) {
	poolHub(t, "ops-test-up", nil)
	down := poolHub(t, "ops-test-down", downOpener{})
	hubtestJoin(t, down.Hub, "a", 10, "", "t")

	rec := httptest.NewRecorder()
	if err := (adminAPI{}).serve(rec, httptest.NewRequest(http.MethodGet, "/sse/health", nil)); err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status, Error string
		Hubs          map[string]string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &health); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || health.Status != "down" ||
		!strings.Contains(health.Error, `hub "ops-test-down"`) || !strings.Contains(health.Error, "redis is unreachable") ||
		health.Hubs["ops-test-up"] != "up" || health.Hubs["ops-test-down"] != "redis is unreachable" {
		t.Errorf("health: %d %s", rec.Code, rec.Body)
	}

	// The collector is registered by every handler's Provision; a pedantic
	// registry checks what it collects against what it describes.
	reg := prometheus.NewPedanticRegistry()
	for range 2 {
		if err := registerMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if m.GetGauge() != nil && len(m.GetLabel()) == 1 {
				got[f.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	for sample, want := range map[string]float64{
		"caddy_sse_transport_up/ops-test-up":   1,
		"caddy_sse_transport_up/ops-test-down": 0,
		"caddy_sse_subscribers/ops-test-down":  1,
		"caddy_sse_subscribers/ops-test-up":    0,
	} {
		if v, ok := got[sample]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", sample, v, ok, want)
		}
	}
}
