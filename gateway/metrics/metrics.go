// Package metrics exports a gateway node's metrics in the Prometheus
// format. It attaches to a gateway.Server through its hooks (an Observer,
// a gateway.Meter, an engineio.Meter) and to the cluster adapters through
// adapter.ClusterConfig.Observer; the gateway itself knows nothing of
// Prometheus, and a server with no metrics attached pays nothing for them.
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(reg, metrics.Options{})
//	cluster := adapter.ClusterConfig{Observer: m.ClusterObserver()}
//	srv := gateway.NewServer(gateway.Config{Adapter: redisFactory(cluster)})
//	detach := m.Attach(srv)
//	http.Handle("/metrics", metrics.Handler(reg))
//
// Gauges (connections, sockets, queue depth, outbox depth) are read from
// the server when scraped; counters and histograms are kept by the hooks.
// The hooks called per packet, event or broadcast only add to atomic
// integers (no label lookup, lock or allocation), which are turned into
// metrics when scraped. Every metric is named with Options.Namespace
// ("siogate") first.
package metrics

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

// Other is the label value that names beyond a label's bound fold into
// (event names past Options.MaxEventNames, namespaces past
// Options.MaxNamespaces).
const Other = "_other"

// Options tune the metrics. The zero value gives the defaults.
type Options struct {
	// Namespace starts every metric name (default "siogate").
	Namespace string
	// MaxEventNames bounds the event label of the handler latency
	// histogram: the first names seen get their own series, later ones
	// are counted under "_other" (default 100).
	MaxEventNames int
	// MaxNamespaces bounds the namespace label of the sockets gauge: the
	// first namespaces in name order get their own series, the others are
	// summed under "_other" (default 100).
	MaxNamespaces int
	// LatencyBuckets are the handler latency histogram's buckets, in
	// seconds, increasing (default 100µs to 10s, roughly ×2.5 apart).
	LatencyBuckets []float64
	// FanOutBuckets are the broadcast recipients histogram's buckets,
	// increasing (default 0, 1, 2, 5, 10, ... 100,000).
	FanOutBuckets []float64
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = "siogate"
	}
	if o.MaxEventNames <= 0 {
		o.MaxEventNames = 100
	}
	if o.MaxNamespaces <= 0 {
		o.MaxNamespaces = 100
	}
	if len(o.LatencyBuckets) == 0 {
		o.LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	}
	if len(o.FanOutBuckets) == 0 {
		o.FanOutBuckets = []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}
	}
	return o
}

// Metrics holds a node's metrics, registered on the Registerer given to
// New. Attach it to the node's server; give ClusterObserver to the
// cluster adapter's configuration.
type Metrics struct {
	opts Options

	mu      sync.Mutex
	servers []*gateway.Server // attached, read at scrape time

	// Kept by the hot hooks, exported by hotCollector.
	traffic traffic
	fanOut  *histogram // recipients
	events  eventNames // handler nanoseconds

	connects    prometheus.Counter
	disconnects *prometheus.CounterVec
	upgrades    prometheus.Counter
	refusals    *prometheus.CounterVec
	limits      *prometheus.CounterVec
	limitHits   []limitCounters // by index in limitKinds
	recoveries  *prometheus.CounterVec
	requests    *prometheus.CounterVec
	timeouts    *prometheus.CounterVec
	published   prometheus.Counter
	publishErrs prometheus.Counter
	received    prometheus.Counter
	outboxDrops prometheus.Counter
	brokersDown atomic.Int64
}

// New returns metrics registered on reg (never Prometheus's default
// registry unless given it). It fails when a name is already registered.
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil Registerer")
	}
	o := opts.withDefaults()
	for _, b := range [][]float64{o.LatencyBuckets, o.FanOutBuckets} {
		for i := 1; i < len(b); i++ {
			if !(b[i] > b[i-1]) {
				return nil, fmt.Errorf("metrics: histogram buckets %v are not increasing", b)
			}
		}
	}
	m := &Metrics{opts: o}
	m.fanOut = newHistogram(scaledBounds(o.FanOutBuckets, 1))
	m.events = eventNames{bounds: scaledBounds(o.LatencyBuckets, 1e9), max: o.MaxEventNames, seed: maphash.MakeSeed()}
	ns := o.Namespace
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help})
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	m.connects = counter("socket_connects_total", "Sockets admitted to a namespace.")
	m.disconnects = counterVec("socket_disconnects_total", "Sockets that left a namespace, by reason.", "reason")
	m.upgrades = counter("upgrades_total", "Sessions upgraded from polling to websocket.")
	m.refusals = counterVec("refused_requests_total", "Requests refused, by cause: the Engine.IO errors (HTTP 400, 403, 413), cors, and the node's limits (429, 503) and drain.", "cause")
	m.limits = counterVec("limit_hits_total", "Refusals by the node's limits (gateway.Limits) and its drain, by kind.", "kind")
	m.recoveries = counterVec("recovery_attempts_total", `Connection state recovery attempts, by result: "hit" or why it missed.`, "result")
	m.requests = counterVec("adapter_requests_total", "Requests sent to the other nodes, by type.", "type")
	m.timeouts = counterVec("adapter_request_timeouts_total", "Requests to the other nodes that ended before every node answered, by type.", "type")
	m.published = counter("adapter_published_total", "Messages the broker accepted from this node.")
	m.publishErrs = counter("adapter_publish_errors_total", "Publish attempts the broker refused (the message is retried).")
	m.received = counter("adapter_received_total", "Messages delivered by the broker to this node.")
	m.outboxDrops = counter("adapter_outbox_dropped_total", "Messages for the other nodes dropped because the outbound queue was full.")
	m.initSeries()
	cs := []prometheus.Collector{
		m.connects, m.disconnects, m.upgrades, m.refusals, m.limits, m.recoveries, m.requests, m.timeouts,
		m.published, m.publishErrs, m.received, m.outboxDrops,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "adapter_broker_up",
			Help: "1 when every cluster adapter of this node reaches the broker, 0 when one does not."},
			func() float64 {
				if m.brokersDown.Load() > 0 {
					return 0
				}
				return 1
			}),
		newScraper(m),
		newHotCollector(m),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Attach makes m count srv's activity: it registers an Observer, adds a
// meter to its engine and sets the server's meter (replacing another).
// The returned function detaches it.
func (m *Metrics) Attach(srv *gateway.Server) (detach func()) {
	stop := srv.Observe(observer{m})
	srv.SetMeter(serverMeter{m})
	removeMeter := srv.Engine().AddMeter(engineMeter{m})
	m.mu.Lock()
	m.servers = append(m.servers, srv)
	m.mu.Unlock()
	return func() {
		stop()
		srv.SetMeter(nil)
		removeMeter()
		m.mu.Lock()
		m.servers = slices.DeleteFunc(m.servers, func(s *gateway.Server) bool { return s == srv })
		m.mu.Unlock()
	}
}

// ClusterObserver returns the observer to set in adapter.ClusterConfig
// for the cluster adapters' metrics.
func (m *Metrics) ClusterObserver() adapter.ClusterObserver { return clusterObserver{m} }

// Handler serves the metrics gathered by g in the text exposition format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// observer is m's gateway.Observer.
type observer struct{ m *Metrics }

func (o observer) SocketConnected(*gateway.Socket) { o.m.connects.Inc() }

func (o observer) SocketDisconnected(_ *gateway.Socket, reason gateway.DisconnectReason) {
	// The reasons are the gateway's few constants: a bounded label.
	o.m.disconnects.WithLabelValues(string(reason)).Inc()
}

func (observer) RoomJoined(nsp, room, sid string)                     {}
func (observer) RoomLeft(nsp, room, sid string)                       {}
func (observer) EventReceived(*gateway.Socket, string, socketio.Args) {}

// serverMeter is m's gateway.Meter.
type serverMeter struct{ m *Metrics }

// limitRefusals are the limits that refuse handshakes, with their cause
// in refused_requests_total.
var limitRefusals = map[gateway.Limit]string{
	gateway.LimitDraining:            "draining",
	gateway.LimitConnections:         "connection_limit",
	gateway.LimitHandshakesPerSecond: "handshake_rate",
}

// limitCounters are the series a limit hit adds to (refusal nil for the
// limits that refuse no request).
type limitCounters struct{ hit, refusal prometheus.Counter }

// LimitHit may be called for every event of a flood: a known limit finds
// its series by a scan of the few constants, with no label lookup.
func (s serverMeter) LimitHit(kind gateway.Limit) {
	for i, k := range limitKinds {
		if k == kind {
			c := s.m.limitHits[i]
			c.hit.Inc()
			if c.refusal != nil {
				c.refusal.Inc()
			}
			return
		}
	}
	s.m.limits.WithLabelValues(LimitLabel(kind)).Inc()
}

func (s serverMeter) Broadcast(_ string, recipients int) { s.m.fanOut.observe(int64(recipients)) }

func (s serverMeter) HandlerDone(_ *gateway.Socket, event string, d time.Duration) {
	s.m.events.histogram(event).observe(int64(d))
}

func (s serverMeter) Recovery(_ string, cause gateway.RecoveryCause) {
	s.m.recoveries.WithLabelValues(string(cause)).Inc()
}

// LimitLabel is the limit_hits_total label of a limit: its name with
// underscores ("events_per_second").
func LimitLabel(kind gateway.Limit) string {
	b := []byte(kind)
	for i, c := range b {
		if c == ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}

// engineMeter is m's engineio.Meter.
type engineMeter struct{ m *Metrics }

func (e engineMeter) Refused(_ *http.Request, cause engineio.Refusal, _ int) {
	e.m.refusals.WithLabelValues(string(cause)).Inc()
}

func (e engineMeter) Upgraded(*engineio.Session) { e.m.upgrades.Inc() }

func (e engineMeter) Received(bytes int) {
	e.m.traffic.packetsIn.Add(1)
	e.m.traffic.bytesIn.Add(uint64(bytes))
}

func (e engineMeter) Sent(packets, bytes int) {
	e.m.traffic.packetsOut.Add(uint64(packets))
	e.m.traffic.bytesOut.Add(uint64(bytes))
}

// clusterObserver is m's adapter.ClusterObserver.
type clusterObserver struct{ m *Metrics }

func (c clusterObserver) RequestSent(typ string)     { c.m.requests.WithLabelValues(typ).Inc() }
func (c clusterObserver) RequestTimedOut(typ string) { c.m.timeouts.WithLabelValues(typ).Inc() }
func (c clusterObserver) Published()                 { c.m.published.Inc() }
func (c clusterObserver) PublishFailed()             { c.m.publishErrs.Inc() }
func (c clusterObserver) Received()                  { c.m.received.Inc() }
func (c clusterObserver) OutboxDropped()             { c.m.outboxDrops.Inc() }

func (c clusterObserver) BrokerUp(up bool) {
	if up {
		c.m.brokersDown.Add(-1)
	} else {
		c.m.brokersDown.Add(1)
	}
}
