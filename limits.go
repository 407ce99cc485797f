package caddysse

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
)

// limiter caps the open streams of a route, in all and per client, and
// takes each stream's slot under the process-wide ceiling as well.
type limiter struct {
	max, perIP int
	ceiling    *streamCeiling // nil: none

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

func newLimiter(max, perIP int, ceiling *streamCeiling) *limiter {
	return &limiter{max: max, perIP: perIP, ceiling: ceiling, byIP: make(map[string]int)}
}

// acquire takes a slot for ip, or says why there is none: 503 when the
// process or the route is full, 429 when this client has too many streams
// open.
func (l *limiter) acquire(ip string) error {
	if err := l.ceiling.take(); err != nil {
		return err
	}
	if err := l.acquireRoute(clientKey(ip)); err != nil {
		l.ceiling.give()
		return err
	}
	return nil
}

func (l *limiter) acquireRoute(client string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		e := errStatus(http.StatusServiceUnavailable, "too many subscribers: this route holds at most %d", l.max)
		e.retryAfter = "5"
		return e
	}
	if l.perIP > 0 && l.byIP[client] >= l.perIP {
		e := errStatus(http.StatusTooManyRequests, "too many subscriptions from %s: at most %d", client, l.perIP)
		e.retryAfter = "5"
		return e
	}
	l.total++
	if l.perIP > 0 {
		l.byIP[client]++
	}
	return nil
}

// release gives back a slot taken by acquire.
func (l *limiter) release(ip string) {
	client := clientKey(ip)
	l.mu.Lock()
	l.total--
	if l.perIP > 0 {
		if l.byIP[client]--; l.byIP[client] <= 0 {
			delete(l.byIP, client)
		}
	}
	l.mu.Unlock()
	l.ceiling.give()
}

// clientKey is what per_ip counts by: an IPv4 address as it is (an
// IPv4-mapped IPv6 address is IPv4), and for IPv6 the /64 the address is
// in, since one site or device is routinely given a whole /64 and can
// rotate through it at will. Anything that is not an IP address counts as
// itself.
func clientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// streamCeiling caps the open streams of the whole process, across every
// hub and route, below the open-file limit: each stream holds a
// descriptor, and the reserve left over keeps publishing, the admin API,
// certificates and logs working when subscribers alone could take them
// all.
type streamCeiling struct {
	max       int64 // most streams open at once; 0 for no ceiling
	fileLimit uint64
	open      atomic.Int64
}

// Descriptors kept back from streams: a hundredth of the open-file limit,
// but at least 200 (or half of a smaller limit). 200 is ample for the
// publishers, the admin API and Caddy's own files, and leaves 19,800
// streams under the common hard limit of 20,000.
const (
	reserveMin      = 200
	reserveFraction = 100
)

func newStreamCeiling(fileLimit uint64) *streamCeiling {
	c := &streamCeiling{fileLimit: fileLimit}
	if fileLimit == 0 || fileLimit >= math.MaxInt32 {
		return c // unknown or practically unlimited
	}
	n := int64(fileLimit)
	reserve := max(n/reserveFraction, min(reserveMin, n/2))
	c.max = n - reserve
	return c
}

// take counts one more open stream, or refuses it with 503 when the
// process holds its ceiling.
func (c *streamCeiling) take() error {
	if c == nil || c.max == 0 {
		return nil
	}
	if c.open.Add(1) > c.max {
		c.open.Add(-1)
		e := errStatus(http.StatusServiceUnavailable,
			"too many streams: this server holds at most %d at once (its open-file limit is %d); retry later", c.max, c.fileLimit)
		e.retryAfter = "5"
		return e
	}
	return nil
}

// give returns a slot taken by take.
func (c *streamCeiling) give() {
	if c != nil && c.max != 0 {
		c.open.Add(-1)
	}
}

// Destruct satisfies caddy.Destructor; a ceiling holds no resources.
func (c *streamCeiling) Destruct() error { return nil }

// ceilings holds the process's one streamCeiling. Every handler takes it
// in Provision and lets go in Cleanup, so it outlives reloads (the new
// config is provisioned before the old one is cleaned up) and counts the
// streams of both while they overlap.
var ceilings = caddy.NewUsagePool()

const ceilingKey = "process"

// loadCeiling takes a reference to the process's stream ceiling, creating
// it from the current open-file limit on first use; releaseCeiling gives
// the reference back.
func loadCeiling() (*streamCeiling, error) {
	v, _, err := ceilings.LoadOrNew(ceilingKey, func() (caddy.Destructor, error) {
		return newStreamCeiling(openFileLimit()), nil
	})
	if err != nil {
		return nil, fmt.Errorf("stream ceiling: %w", err)
	}
	return v.(*streamCeiling), nil
}

func releaseCeiling() error {
	if _, err := ceilings.Delete(ceilingKey); err != nil {
		return fmt.Errorf("releasing stream ceiling: %w", err)
	}
	return nil
}

// Interface guards
var _ caddy.Destructor = (*streamCeiling)(nil)
