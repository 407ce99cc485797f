package caddysse

import (
	"errors"
	"net/http"
	"testing"
)

func TestClientKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"}, // IPv4-mapped IPv6 is IPv4
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"not an ip", "not an ip"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := clientKey(tt.ip); got != tt.want {
			t.Errorf("clientKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

func TestLimiterPerIPGroupsIPv6By64(t *testing.T) {
	tests := []struct {
		name  string
		held  []string // addresses holding a stream each
		next  string
		allow bool
	}{
		{"IPv6 rotating within its /64 is one client", []string{"2001:db8::1", "2001:db8::2"}, "2001:db8::ffff:3", false},
		{"another /64 is another client", []string{"2001:db8::1", "2001:db8::2"}, "2001:db8:0:1::1", true},
		{"IPv4 stays exact", []string{"192.0.2.1", "192.0.2.1"}, "192.0.2.2", true},
		{"IPv4 at its limit", []string{"192.0.2.1", "192.0.2.1"}, "192.0.2.1", false},
		{"IPv4-mapped counts with IPv4", []string{"192.0.2.1", "::ffff:192.0.2.1"}, "192.0.2.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(0, 2, nil)
			for _, ip := range tt.held {
				if err := l.acquire(ip); err != nil {
					t.Fatalf("acquire(%s): %v", ip, err)
				}
			}
			err := l.acquire(tt.next)
			if tt.allow && err != nil {
				t.Fatalf("acquire(%s) = %v, want a slot", tt.next, err)
			}
			if !tt.allow && errStatusOf(err) != http.StatusTooManyRequests {
				t.Fatalf("acquire(%s) = %v, want 429", tt.next, err)
			}
			// Releasing by the same addresses gives every slot back.
			if tt.allow {
				l.release(tt.next)
			}
			for _, ip := range tt.held {
				l.release(ip)
			}
			if l.total != 0 || len(l.byIP) != 0 {
				t.Fatalf("after release: total %d, byIP %v", l.total, l.byIP)
			}
		})
	}
}

func TestStreamCeilingFromFileLimit(t *testing.T) {
	tests := []struct {
		fileLimit uint64
		want      int64
	}{
		{0, 0},             // unknown: no ceiling
		{1 << 63, 0},       // unlimited
		{80, 40},           // a small limit keeps half back
		{1024, 824},        // at least 200 kept back
		{20000, 19800},     // 200, a hundredth
		{1 << 20, 1038091}, // a hundredth kept back
		{600, 400},         // 200 > a hundredth
		{40000, 39600},     // a hundredth > 200
		{2, 1},             // never no room at all
	}
	for _, tt := range tests {
		if got := newStreamCeiling(tt.fileLimit).max; got != tt.want {
			t.Errorf("ceiling for a limit of %d = %d, want %d", tt.fileLimit, got, tt.want)
		}
	}
}

func TestStreamCeilingSharedByRoutes(t *testing.T) {
	c := newStreamCeiling(6) // holds 3
	a, b := newLimiter(0, 0, c), newLimiter(0, 0, c)
	for _, l := range []*limiter{a, b, a} {
		if err := l.acquire("192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	err := b.acquire("192.0.2.2")
	var he httpError
	if !errors.As(err, &he) || he.status != http.StatusServiceUnavailable || he.retryAfter == "" {
		t.Fatalf("fourth stream in the process: %v, want 503 with Retry-After", err)
	}
	a.release("192.0.2.1")
	if err := b.acquire("192.0.2.2"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	// A route that refuses a stream does not keep its process slot.
	full := newLimiter(1, 0, newStreamCeiling(4)) // process holds 2
	if err := full.acquire("192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := full.acquire("192.0.2.1"); errStatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("route full: %v", err)
	}
	if got := full.ceiling.open.Load(); got != 1 {
		t.Fatalf("process count after a refusal by the route = %d, want 1", got)
	}
}

// errStatusOf is the status an error is answered with; 0 for nil.
func errStatusOf(err error) int {
	var he httpError
	if errors.As(err, &he) {
		return he.status
	}
	if err != nil {
		return http.StatusBadRequest
	}
	return 0
}

// TestCeilingSharedAcrossConfigs: every handler, of every config alive at
// once, counts against the one ceiling of the process.
func TestCeilingSharedAcrossConfigs(t *testing.T) {
	a, err := loadCeiling()
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadCeiling()
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("two handlers got different ceilings")
	}
	if a.max != newStreamCeiling(openFileLimit()).max {
		t.Errorf("ceiling %d, want the one of this process's open-file limit", a.max)
	}
	for range 2 {
		if err := releaseCeiling(); err != nil {
			t.Fatal(err)
		}
	}
}
