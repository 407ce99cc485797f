package caddysse

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestGrafanaDashboardMetrics checks that the example dashboard queries only
// metrics the module exports, and every one of them.
func TestGrafanaDashboardMetrics(t *testing.T) {
	// What the collector exports, with a publish error so that every
	// family has a sample.
	e := poolHub(t, "ops-test-dashboard", nil)
	e.publish.observe(400, time.Millisecond)
	reg := prometheus.NewPedanticRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := make(map[string]bool)
	for _, f := range families {
		exported[f.GetName()] = true
	}
	if len(exported) != 10 {
		t.Fatalf("the collector exports %d metrics, want the 10 of the README: %v", len(exported), exported)
	}

	raw, err := os.ReadFile("examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	name := regexp.MustCompile(`caddy_sse_[a-z_]+`)
	used := make(map[string]bool)
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, m := range name.FindAllString(target.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if trimmed, ok := strings.CutSuffix(m, suffix); ok && exported[trimmed] {
						base = trimmed
					}
				}
				if !exported[base] {
					t.Errorf("panel %q queries %s, which is not exported", p.Title, m)
				}
				used[base] = true
			}
		}
	}
	for m := range exported {
		if !used[m] {
			t.Errorf("the dashboard shows no panel of %s", m)
		}
	}
}
