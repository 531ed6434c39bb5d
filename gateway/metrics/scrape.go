package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway"
)

// scraper reads the gauges of the attached servers when scraped: nothing
// is kept on the hot paths for them.
type scraper struct {
	m                                                         *Metrics
	connections, sockets, queued, cut                         *prometheus.Desc
	outboxMessages, outboxBytes, eventsDropped, outboxExpired *prometheus.Desc
}

func newScraper(m *Metrics) *scraper {
	ns := m.opts.Namespace
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	return &scraper{
		m:              m,
		connections:    desc("connections", "Open Engine.IO connections, by transport.", "transport"),
		sockets:        desc("sockets", `Sockets connected, by namespace (namespaces past the bound summed under "_other").`, "namespace"),
		queued:         desc("outbound_queue_bytes", "Payload bytes waiting to be written to clients, summed over the connections."),
		cut:            desc("sessions_cut_total", "Connections the engine cut for misbehaving, by cause: slow_client (outbound queue over its limit), invalid_utf8, body_timeout.", "cause"),
		outboxMessages: desc("adapter_outbox_messages", "Messages queued for the broker, summed over the namespaces' cluster adapters."),
		outboxBytes:    desc("adapter_outbox_bytes", "Bytes queued for the broker, summed over the namespaces' cluster adapters."),
		eventsDropped:  desc("adapter_server_events_dropped_total", "Server-side events from other nodes dropped because the handlers were too slow."),
		outboxExpired:  desc("adapter_outbox_expired_total", "Requests and answers for the other nodes not sent because their requester had stopped waiting (the broker was away longer than the request timeout)."),
	}
}

// Describe implements prometheus.Collector.
func (c *scraper) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.sockets, c.queued, c.cut, c.outboxMessages, c.outboxBytes, c.eventsDropped, c.outboxExpired} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *scraper) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	servers := append([]*gateway.Server(nil), c.m.servers...)
	c.m.mu.Unlock()
	transports := map[string]int{"polling": 0, "websocket": 0}
	sockets := map[string]int{}
	var queued, slow, utf8, body int64
	var outMsgs, outBytes int
	var dropped, expired uint64
	for _, srv := range servers {
		eng := srv.Engine()
		for _, ss := range eng.Sessions() {
			transports[ss.Transport()]++
			queued += int64(ss.QueuedBytes())
		}
		st := eng.Stats()
		slow, utf8, body = slow+st.SlowClients, utf8+st.InvalidUTF8, body+st.BodyTimeouts
		for i, ns := range srv.Namespaces() { // in name order
			name := ns.Name()
			if i >= c.m.opts.MaxNamespaces {
				name = Other
			}
			sockets[name] += ns.Count()
			if a, ok := ns.Adapter().(interface{ Stats() adapter.ClusterStats }); ok {
				st := a.Stats()
				outMsgs += st.Queued
				outBytes += st.QueuedBytes
				dropped += st.ServerEventsDropped
				expired += st.Expired
			}
		}
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for t, n := range transports {
		gauge(c.connections, float64(n), t)
	}
	for nsp, n := range sockets {
		gauge(c.sockets, float64(n), nsp)
	}
	gauge(c.queued, float64(queued))
	for cause, n := range map[string]int64{"slow_client": slow, "invalid_utf8": utf8, "body_timeout": body} {
		ch <- prometheus.MustNewConstMetric(c.cut, prometheus.CounterValue, float64(n), cause)
	}
	gauge(c.outboxMessages, float64(outMsgs))
	gauge(c.outboxBytes, float64(outBytes))
	ch <- prometheus.MustNewConstMetric(c.eventsDropped, prometheus.CounterValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(c.outboxExpired, prometheus.CounterValue, float64(expired))
}
