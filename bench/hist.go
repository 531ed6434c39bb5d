package bench

import (
	"math"
	"sync/atomic"
	"time"
)

// histogram records durations in log-spaced buckets (about 2% wide) from
// 1µs to about 100s, without locks, for percentile estimates.
type histogram struct {
	buckets [histBuckets]atomic.Int64
	count   atomic.Int64
}

const (
	histBuckets = 1000
	histGrowth  = 1.02 // ratio between consecutive bucket bounds
)

var logGrowth = math.Log(histGrowth)

// record adds one duration.
func (h *histogram) record(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = int(math.Log(us) / logGrowth)
		if i >= histBuckets {
			i = histBuckets - 1
		}
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
}

// quantile returns the upper bound of the bucket holding quantile q
// (0 < q ≤ 1), or 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= want {
			us := math.Pow(histGrowth, float64(i+1))
			return time.Duration(us * float64(time.Microsecond))
		}
	}
	return time.Duration(math.Pow(histGrowth, histBuckets) * float64(time.Microsecond))
}

// snapshot returns the non-empty buckets, for merging across processes.
func (h *histogram) snapshot() map[int]int64 {
	m := map[int]int64{}
	for i := range h.buckets {
		if n := h.buckets[i].Load(); n > 0 {
			m[i] = n
		}
	}
	return m
}

// merge adds a snapshot's counts.
func (h *histogram) merge(snap map[int]int64) {
	for i, n := range snap {
		if i >= 0 && i < histBuckets {
			h.buckets[i].Add(n)
			h.count.Add(n)
		}
	}
}
