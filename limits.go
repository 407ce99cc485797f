package caddysse

import (
	"net/http"
	"sync"
)

// limiter caps the open streams of a route, in all and per client IP.
type limiter struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

func newLimiter(max, perIP int) *limiter {
	return &limiter{max: max, perIP: perIP, byIP: make(map[string]int)}
}

// acquire takes a slot for ip, or says why there is none: 503 when the
// route is full, 429 when this client has too many streams open.
func (l *limiter) acquire(ip string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		e := errStatus(http.StatusServiceUnavailable, "too many subscribers: this route holds at most %d", l.max)
		e.retryAfter = "5"
		return e
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		e := errStatus(http.StatusTooManyRequests, "too many subscriptions from %s: at most %d", ip, l.perIP)
		e.retryAfter = "5"
		return e
	}
	l.total++
	if l.perIP > 0 {
		l.byIP[ip]++
	}
	return nil
}

// release gives back a slot taken by acquire.
func (l *limiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP > 0 {
		if l.byIP[ip]--; l.byIP[ip] <= 0 {
			delete(l.byIP, ip)
		}
	}
}
