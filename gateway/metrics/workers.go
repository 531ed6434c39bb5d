package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WorkerMeter counts the events a node forwards to workers (package
// gateway/workers, whose Meter it implements): forwarded, refused by code,
// the time to the worker's reply, and the events waiting for one.
type WorkerMeter struct {
	forwarded prometheus.Counter
	refused   *prometheus.CounterVec
	replies   prometheus.Histogram
}

// NewWorkerMeter registers the worker metrics on reg, named with
// opts.Namespace; inFlight, when not nil, is read at scrape time for the
// gauge of events waiting for a reply.
func NewWorkerMeter(reg prometheus.Registerer, opts Options, inFlight func() int) (*WorkerMeter, error) {
	o := opts.withDefaults()
	ns := o.Namespace
	w := &WorkerMeter{
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "worker_events_forwarded_total",
			Help: "Client events the work queue accepted from this node."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "worker_events_refused_total",
			Help: "Client events answered with an error instead of a worker's answer, by code (not_allowed, overloaded, unavailable, timeout, worker_error, bad_event)."}, []string{"code"}),
		replies: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "worker_reply_seconds",
			Help: "Time from an event's arrival to its worker's reply.", Buckets: o.LatencyBuckets}),
	}
	cs := []prometheus.Collector{w.forwarded, w.refused, w.replies}
	if inFlight != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "worker_events_in_flight",
			Help: "Client events forwarded and waiting for a worker's reply."}, func() float64 { return float64(inFlight()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Forwarded counts an event the queue accepted.
func (w *WorkerMeter) Forwarded() { w.forwarded.Inc() }

// Refused counts an event refused with code.
func (w *WorkerMeter) Refused(code string) { w.refused.WithLabelValues(code).Inc() }

// Replied records the time to a worker's reply.
func (w *WorkerMeter) Replied(d time.Duration) { w.replies.Observe(d.Seconds()) }
