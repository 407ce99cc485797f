package main

// This file holds the measurement data structures: a log-linear latency
// histogram that can be updated concurrently, the per-subscriber set of
// received sequence numbers, and the bitset of acknowledged sequence numbers.

import (
	"math"
	"math/bits"
	"sort"
	"sync"
	"sync/atomic"
)

// Histogram layout: values below 2*histSub are counted exactly; above that
// every power-of-two range is split into histSub equal buckets, so a bucket
// is at most 1/histSub (about 3%) wide relative to its values. Values are
// microseconds in this tool but the histogram is unit-agnostic.
const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits + 1) * histSub
)

// histBucket returns the bucket index of v.
func histBucket(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - histSubBits
	return (shift+1)*histSub + int(v>>uint(shift)) - histSub
}

// histBounds returns the smallest and largest value counted in bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i)
	}
	shift := uint(i/histSub - 1)
	lo = uint64(i%histSub+histSub) << shift
	return lo, lo + (1 << shift) - 1
}

// histogram counts values in log-linear buckets. record may be called
// concurrently; the other methods must not run concurrently with record.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Uint64
}

// record adds one value.
func (h *histogram) record(v uint64) { h.recordN(v, 1) }

// recordN adds n times the value v.
func (h *histogram) recordN(v, n uint64) {
	h.counts[histBucket(v)].Add(n)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// merge adds the counts of o to h.
func (h *histogram) merge(o *histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// count returns the number of recorded values.
func (h *histogram) count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// quantile returns an estimate of the q-quantile (0 < q <= 1): the midpoint
// of the bucket holding the value of rank ceil(q*count), capped at the exact
// maximum. It returns 0 for an empty histogram.
func (h *histogram) quantile(q float64) uint64 {
	n := h.count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			lo, hi := histBounds(i)
			v := lo + (hi-lo)/2
			if m := h.max.Load(); v > m {
				v = m
			}
			return v
		}
	}
	return h.max.Load()
}

// seqRange is an inclusive range of sequence numbers.
type seqRange struct{ lo, hi uint32 }

// seqSet records which sequence numbers a subscriber received, as sorted,
// disjoint, non-adjacent ranges. Events arrive nearly in order, so the set
// is usually one range and an insertion touches only its last elements;
// memory grows only with the number of holes. Not safe for concurrent use.
type seqSet struct {
	r []seqRange
}

// add inserts x and reports whether it was new (false means duplicate).
func (s *seqSet) add(x uint32) bool {
	r := s.r
	// i is the last range with lo <= x, or -1.
	i := len(r) - 1
	if i >= 0 && r[i].lo > x {
		if i < 8 {
			for i >= 0 && r[i].lo > x {
				i--
			}
		} else {
			i = sort.Search(len(r), func(k int) bool { return r[k].lo > x }) - 1
		}
	}
	if i >= 0 && x <= r[i].hi {
		return false
	}
	left := i >= 0 && r[i].hi+1 == x
	right := i+1 < len(r) && x+1 == r[i+1].lo
	switch {
	case left && right:
		r[i].hi = r[i+1].hi
		s.r = append(r[:i+1], r[i+2:]...)
	case left:
		r[i].hi = x
	case right:
		r[i+1].lo = x
	default:
		s.r = append(r, seqRange{})
		copy(s.r[i+2:], s.r[i+1:])
		s.r[i+1] = seqRange{x, x}
	}
	return true
}

// len returns the number of distinct sequence numbers in the set.
func (s *seqSet) len() uint64 {
	var n uint64
	for _, r := range s.r {
		n += uint64(r.hi-r.lo) + 1
	}
	return n
}

// ackSet is the set of sequence numbers whose publish request was answered
// with 200. Safe for concurrent use.
type ackSet struct {
	mu    sync.Mutex
	words []uint64
	n     uint64
}

// addRange marks lo..hi (inclusive) as acknowledged.
func (a *ackSet) addRange(lo, hi uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if need := int(hi/64) + 1; need > len(a.words) {
		if need <= cap(a.words) {
			a.words = a.words[:need]
		} else {
			w := make([]uint64, need, need*2)
			copy(w, a.words)
			a.words = w
		}
	}
	for x := lo; x <= hi; x++ {
		m := uint64(1) << (x % 64)
		if a.words[x/64]&m == 0 {
			a.words[x/64] |= m
			a.n++
		}
	}
}

// count returns the number of acknowledged sequence numbers.
func (a *ackSet) count() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// countRange returns how many of lo..hi (inclusive) are acknowledged. The
// caller must hold no lock; it must not run concurrently with addRange.
func (a *ackSet) countRange(lo, hi uint64) uint64 {
	if lo > hi {
		return 0
	}
	last := uint64(len(a.words))*64 - 1
	if len(a.words) == 0 || lo > last {
		return 0
	}
	if hi > last {
		hi = last
	}
	lw, hw := lo/64, hi/64
	lmask := ^uint64(0) << (lo % 64)
	hmask := ^uint64(0) >> (63 - hi%64)
	if lw == hw {
		return uint64(bits.OnesCount64(a.words[lw] & lmask & hmask))
	}
	n := bits.OnesCount64(a.words[lw]&lmask) + bits.OnesCount64(a.words[hw]&hmask)
	for _, w := range a.words[lw+1 : hw] {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// received returns how many acknowledged sequence numbers s contains.
func (a *ackSet) received(s *seqSet) uint64 {
	var n uint64
	for _, r := range s.r {
		n += a.countRange(uint64(r.lo), uint64(r.hi))
	}
	return n
}
