package metrics

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The hooks called per packet, per event and per broadcast keep their
// counts in plain atomic integers: a packet costs two atomic adds, an
// event a bucket search and two atomic adds, with no label lookup, no
// lock and no allocation. The collector below turns them into Prometheus
// metrics when scraped.

// traffic counts the Engine.IO packets and payload bytes. The readers'
// counters and the writers' are on cache lines of their own.
type traffic struct {
	packetsIn, bytesIn   atomic.Uint64
	_                    [48]byte
	packetsOut, bytesOut atomic.Uint64
	_                    [48]byte
}

// histogram is a histogram of non-negative integer observations (handler
// nanoseconds, broadcast recipients). counts[i] holds the observations
// in (bounds[i-1], bounds[i]], the last one those above every bound; the
// total count is their sum, so a scrape never sees a count that
// disagrees with the buckets.
type histogram struct {
	bounds []int64
	counts []atomic.Uint64
	sum    atomic.Uint64
}

func newHistogram(bounds []int64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// observe adds v (negative values count as 0).
func (h *histogram) observe(v int64) {
	v = max(v, 0)
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(v))
}

// metric returns h as a constant Prometheus histogram, its bounds and sum
// multiplied by unit (1e-9 turns nanoseconds into seconds).
func (h *histogram) metric(desc *prometheus.Desc, upper []float64, unit float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(upper))
	var count uint64
	for i, b := range upper {
		count += h.counts[i].Load()
		buckets[b] = count
	}
	count += h.counts[len(upper)].Load()
	return prometheus.MustNewConstHistogram(desc, count, float64(h.sum.Load())*unit, buckets, labels...)
}

// scaledBounds turns bucket bounds into the integer unit of the
// observations: x ≤ bound holds for an integer x exactly when x ≤
// floor(bound × per).
func scaledBounds(upper []float64, per float64) []int64 {
	out := make([]int64, len(upper))
	for i, b := range upper {
		out[i] = int64(math.Floor(b*per + 1e-9))
	}
	return out
}

// eventNames maps event names to their latency histograms, the first max
// names each to its own, later ones to "_other". A lookup is one atomic
// load of an immutable table, a hash of the name and, mostly, one string
// comparison: no lock, no Go map (whose lookup costs about twice as
// much).
type eventNames struct {
	bounds []int64
	max    int
	seed   maphash.Seed
	mu     sync.Mutex // serializes adding names
	table  atomic.Pointer[nameTable]
	other  atomic.Pointer[histogram]
}

// nameTable is an open-addressing hash table of the known names, at most
// half full (so a probe always ends on an empty slot).
type nameTable struct {
	slots []nameSlot // a power of two
	n     int        // names in it
}

type nameSlot struct {
	name string
	h    *histogram // nil: empty slot
}

// find returns the slot of name, or the empty slot where it would go.
func (t *nameTable) find(hash uint64, name string) *nameSlot {
	mask := uint64(len(t.slots) - 1)
	for i := hash & mask; ; i = (i + 1) & mask {
		if sl := &t.slots[i]; sl.h == nil || sl.name == name {
			return sl
		}
	}
}

func (e *eventNames) histogram(name string) *histogram {
	hash := maphash.String(e.seed, name)
	t := e.table.Load()
	if t != nil {
		if sl := t.find(hash, name); sl.h != nil {
			return sl.h
		}
		if t.n >= e.max {
			return e.otherHistogram()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t = e.table.Load(); t != nil {
		if sl := t.find(hash, name); sl.h != nil {
			return sl.h
		}
		if t.n >= e.max {
			return e.otherHistogram()
		}
	}
	// A copy with the name added, replacing the table readers see.
	n := 0
	if t != nil {
		n = t.n
	}
	size := 8
	for size < 2*(n+1) {
		size *= 2
	}
	next := &nameTable{slots: make([]nameSlot, size), n: n + 1}
	if t != nil {
		for _, sl := range t.slots {
			if sl.h != nil {
				*next.find(maphash.String(e.seed, sl.name), sl.name) = sl
			}
		}
	}
	h := newHistogram(e.bounds)
	*next.find(hash, name) = nameSlot{name: name, h: h}
	e.table.Store(next)
	return h
}

// each calls fn with every known name and its histogram.
func (e *eventNames) each(fn func(name string, h *histogram)) {
	if t := e.table.Load(); t != nil {
		for _, sl := range t.slots {
			if sl.h != nil {
				fn(sl.name, sl.h)
			}
		}
	}
}

func (e *eventNames) otherHistogram() *histogram {
	if h := e.other.Load(); h != nil {
		return h
	}
	e.other.CompareAndSwap(nil, newHistogram(e.bounds))
	return e.other.Load()
}

// hotCollector exports the counts kept by the hot hooks.
type hotCollector struct {
	m                                        *Metrics
	packetsIn, bytesIn, packetsOut, bytesOut *prometheus.Desc
	fanOut, handlers                         *prometheus.Desc
}

func newHotCollector(m *Metrics) *hotCollector {
	ns := m.opts.Namespace
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	return &hotCollector{
		m:          m,
		packetsIn:  desc("packets_received_total", "Engine.IO packets received from clients."),
		bytesIn:    desc("received_bytes_total", "Payload bytes of the Engine.IO packets received from clients."),
		packetsOut: desc("packets_sent_total", "Engine.IO packets written to clients."),
		bytesOut:   desc("sent_bytes_total", "Payload bytes of the Engine.IO packets written to clients."),
		fanOut:     desc("broadcast_recipients", "Sockets of this node each broadcast was queued for."),
		handlers:   desc("event_handler_seconds", `Time event handlers ran, by event name (names past the bound fold into "_other").`, "event"),
	}
}

// Describe implements prometheus.Collector.
func (c *hotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packetsIn, c.bytesIn, c.packetsOut, c.bytesOut, c.fanOut, c.handlers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *hotCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	counter := func(d *prometheus.Desc, v *atomic.Uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v.Load()))
	}
	counter(c.packetsIn, &m.traffic.packetsIn)
	counter(c.bytesIn, &m.traffic.bytesIn)
	counter(c.packetsOut, &m.traffic.packetsOut)
	counter(c.bytesOut, &m.traffic.bytesOut)
	ch <- m.fanOut.metric(c.fanOut, m.opts.FanOutBuckets, 1)
	m.events.each(func(name string, h *histogram) {
		ch <- h.metric(c.handlers, m.opts.LatencyBuckets, 1e-9, name)
	})
	if h := m.events.other.Load(); h != nil {
		ch <- h.metric(c.handlers, m.opts.LatencyBuckets, 1e-9, Other)
	}
}
