package metrics

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestHistogramBuckets: an observation equal to a bound counts in that
// bound's bucket (Prometheus's "le"), the buckets are cumulative, the
// count is the +Inf bucket, and nanoseconds come out as seconds.
func TestHistogramBuckets(t *testing.T) {
	upper := []float64{0.0001, 0.001, 0.01}
	h := newHistogram(scaledBounds(upper, 1e9))
	for _, ns := range []int64{-5, 0, 100_000, 100_001, 1_000_000, 20_000_000} {
		h.observe(ns)
	}
	desc := prometheus.NewDesc("x_seconds", "x", nil, nil)
	var out dto.Metric
	if err := h.metric(desc, upper, 1e-9).Write(&out); err != nil {
		t.Fatal(err)
	}
	hist := out.GetHistogram()
	var got []uint64
	for _, b := range hist.GetBucket() {
		got = append(got, b.GetCumulativeCount())
	}
	if fmt.Sprint(got) != "[3 5 5]" || hist.GetSampleCount() != 6 {
		t.Fatalf("buckets %v count %d, want [3 5 5] and 6", got, hist.GetSampleCount())
	}
	if want := 0.021200001; hist.GetSampleSum() < want-1e-9 || hist.GetSampleSum() > want+1e-9 {
		t.Fatalf("sum %v s, want %v", hist.GetSampleSum(), want)
	}
	// Integer observations against fractional bounds.
	if b := scaledBounds([]float64{0, 1, 2.5}, 1); fmt.Sprint(b) != "[0 1 2]" {
		t.Fatalf("scaledBounds = %v", b)
	}
}

// TestEventNamesTable: the table grows past its first size, finds every
// name it was given, and folds names past the bound into one histogram.
func TestEventNamesTable(t *testing.T) {
	m, err := New(prometheus.NewRegistry(), Options{MaxEventNames: 50})
	if err != nil {
		t.Fatal(err)
	}
	e := &m.events
	hs := map[string]*histogram{}
	for i := range 50 {
		name := fmt.Sprint("event-", i)
		hs[name] = e.histogram(name)
	}
	for name, h := range hs {
		if e.histogram(name) != h {
			t.Fatalf("%s: another histogram on the second lookup", name)
		}
	}
	other := e.histogram("one too many")
	if other != e.histogram("another one") || other == nil {
		t.Fatal("names past the bound do not share the _other histogram")
	}
	for _, h := range hs {
		if h == other {
			t.Fatal("a known name got the _other histogram")
		}
	}
	n := 0
	e.each(func(string, *histogram) { n++ })
	if n != 50 {
		t.Fatalf("%d names in the table, want 50", n)
	}
}

// TestBadBuckets: buckets that do not increase are refused.
func TestBadBuckets(t *testing.T) {
	if _, err := New(prometheus.NewRegistry(), Options{LatencyBuckets: []float64{1, 0.5}}); err == nil {
		t.Fatal("decreasing latency buckets accepted")
	}
}
