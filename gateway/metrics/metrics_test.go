package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/gateway/metrics"
)

// TestScriptedTraffic drives a node through connects, a broadcast,
// acknowledged events, an event flood, a refused CORS request, a slow
// client cut, an upgrade, dropped connections and recoveries, scraping
// after each step.
func TestScriptedTraffic(t *testing.T) {
	cfg := gateway.Config{
		Engine: engineio.Config{
			CORSAllowedOrigins: []string{"https://good.example"},
			QueueLimit:         8,
		},
		Limits:   gateway.Limits{EventsPerSecond: 1, EventBurst: 3},
		Recovery: gateway.RecoveryConfig{Enabled: true, Store: adapter.NewMemoryStore(adapter.MemoryStoreOptions{})},
	}
	n := newNode(t, cfg, metrics.Options{})
	n.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return []any{"echoed"} })
	ctx := context.Background()

	// Four sockets on websocket.
	const N = 4
	clients := make([]*wsClient, N)
	pids := make([]string, N)
	for i := range clients {
		var data map[string]string
		clients[i], data = n.connect(t, "")
		pids[i] = data["pid"]
	}
	fams := n.families(t)
	for _, c := range []struct {
		want   float64
		name   string
		labels []string
	}{
		{N, "siogate_connections", []string{"transport", "websocket"}},
		{0, "siogate_connections", []string{"transport", "polling"}},
		{N, "siogate_sockets", []string{"namespace", "/"}},
		{N, "siogate_socket_connects_total", nil},
		{0, "siogate_upgrades_total", nil},
		{1, "siogate_adapter_broker_up", nil},
	} {
		if v, ok := value(fams, c.name, c.labels...); !ok || v != c.want {
			t.Fatalf("%s%v = %v (%v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}

	// A broadcast to the four.
	if err := n.srv.Emit(ctx, "news", "hi"); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.expect(t, `42["news","hi",`) // and the recovery offset
	}
	if count, sum := histogram(t, n.families(t), "siogate_broadcast_recipients"); count != 1 || sum != N {
		t.Fatalf("broadcast_recipients: %d samples, sum %v; want 1, %d", count, sum, N)
	}

	// Three acknowledged events, within the event burst.
	for range 3 {
		clients[0].send(t, `421["echo","x"]`)
		clients[0].expect(t, `431["echoed"]`)
	}
	fams = n.families(t)
	if count, sum := histogram(t, fams, "siogate_event_handler_seconds", "event", "echo"); count != 3 || sum <= 0 {
		t.Fatalf("event_handler_seconds{echo}: %d samples, sum %v", count, sum)
	}
	if v, _ := value(fams, "siogate_packets_received_total"); v < 3+N {
		t.Fatalf("packets_received_total %v, want at least %d", v, 3+N)
	}
	for _, name := range []string{"siogate_received_bytes_total", "siogate_packets_sent_total", "siogate_sent_bytes_total"} {
		if v, _ := value(fams, name); v <= 0 {
			t.Fatalf("%s = %v", name, v)
		}
	}

	// An event flood from another socket: 3 pass (the burst), the rest
	// are refused but for at most one token refilled meanwhile.
	for range 10 {
		clients[1].send(t, `42["echo","flood"]`)
	}
	clients[1].expect(t, `42["error",{"message":"rate limit exceeded"}`)
	fams = n.waitAtLeast(t, 6, "siogate_limit_hits_total", "kind", "events_per_second")
	if v, _ := value(fams, "siogate_limit_hits_total", "kind", "events_per_second"); v > 7 {
		t.Fatalf("limit_hits_total{events_per_second} = %v, want 6 or 7", v)
	}

	// A refused CORS request, and two Engine.IO errors.
	if code, _ := n.do(t, "GET", "EIO=4&transport=polling", "", http.Header{"Origin": {"https://evil.example"}}); code != http.StatusBadRequest {
		t.Fatalf("CORS refusal: HTTP %d", code)
	}
	if code, _ := n.do(t, "GET", "EIO=4&transport=polling&sid=nope", "", nil); code != http.StatusBadRequest {
		t.Fatalf("unknown sid: HTTP %d", code)
	}
	if code, _ := n.do(t, "GET", "EIO=3&transport=polling", "", nil); code != http.StatusBadRequest {
		t.Fatalf("EIO=3: HTTP %d", code)
	}
	fams = n.families(t)
	for _, cause := range []string{"cors", "unknown_sid", "unsupported_protocol_version"} {
		if v, _ := value(fams, "siogate_refused_requests_total", "cause", cause); v != 1 {
			t.Fatalf("refused_requests_total{%s} = %v, want 1", cause, v)
		}
	}

	// A slow client: a polling session that joins "/" and never polls.
	sid := n.pollSession(t)
	if code, body := n.do(t, "POST", "EIO=4&transport=polling&sid="+sid, "40", nil); code != http.StatusOK || body != "ok" {
		t.Fatalf("CONNECT over polling: %d %q", code, body)
	}
	var slow *gateway.Socket
	for _, s := range n.srv.Of("/").Sockets() {
		if s.ConnID() == sid {
			slow = s
		}
	}
	if slow == nil {
		t.Fatal("the polling socket is not in /")
	}
	if err := slow.Emit("queued", strings.Repeat("x", 100)); err != nil {
		t.Fatal(err)
	}
	fams = n.families(t)
	if v, _ := value(fams, "siogate_connections", "transport", "polling"); v != 1 {
		t.Fatalf("connections{polling} = %v", v)
	}
	if v, _ := value(fams, "siogate_outbound_queue_bytes"); v < 100 {
		t.Fatalf("outbound_queue_bytes = %v, want at least the 100 bytes queued", v)
	}
	for range 10 {
		_ = slow.Emit("queued", "y")
	}
	n.waitValue(t, 1, "siogate_sessions_cut_total", "cause", "slow_client")
	n.waitValue(t, 1, "siogate_socket_disconnects_total", "reason", "transport error")

	// An upgrade from polling to websocket.
	sid2 := n.pollSession(t)
	up := n.dialWS(t, "&sid="+sid2)
	up.send(t, "2probe")
	up.expect(t, "3probe")
	up.send(t, "5")
	n.waitValue(t, 1, "siogate_upgrades_total")
	n.waitValue(t, N+1, "siogate_connections", "transport", "websocket")

	// Dropped connections, then recoveries: one hit, one unknown session.
	_ = clients[2].conn.NetConn().Close()
	_ = clients[3].conn.NetConn().Close()
	n.waitValue(t, 2, "siogate_socket_disconnects_total", "reason", "transport close")
	n.connect(t, `{"pid":"`+pids[3]+`"}`)
	n.connect(t, `{"pid":"no-such-session"}`)
	fams = n.waitValue(t, 1, "siogate_recovery_attempts_total", "result", "hit")
	if v, _ := value(fams, "siogate_recovery_attempts_total", "result", "unknown_session"); v != 1 {
		t.Fatalf("recovery_attempts_total{unknown_session} = %v", v)
	}
	if v, _ := value(fams, "siogate_sockets", "namespace", "/"); v != N {
		// a, b, the recovered d, the fresh one; the polling socket was cut.
		t.Fatalf("sockets{/} = %v, want %d", v, N)
	}
}

// TestHandshakeRefusals counts the refusals of the node's limits and of
// its drain, by cause.
func TestHandshakeRefusals(t *testing.T) {
	n := newNode(t, gateway.Config{Limits: gateway.Limits{HandshakesPerSecond: 0.001, HandshakeBurst: 2}}, metrics.Options{})
	codes := map[int]int{}
	for range 5 {
		code, _ := n.do(t, "GET", "EIO=4&transport=polling", "", nil)
		codes[code]++
	}
	if codes[http.StatusOK] != 2 || codes[http.StatusTooManyRequests] != 3 {
		t.Fatalf("statuses %v, want 2 OK and 3 429", codes)
	}
	fams := n.families(t)
	if v, _ := value(fams, "siogate_refused_requests_total", "cause", "handshake_rate"); v != 3 {
		t.Fatalf("refused_requests_total{handshake_rate} = %v", v)
	}
	if v, _ := value(fams, "siogate_limit_hits_total", "kind", "handshakes_per_second_per_address"); v != 3 {
		t.Fatalf("limit_hits_total{handshakes_per_second_per_address} = %v", v)
	}

	d := newNode(t, gateway.Config{Limits: gateway.Limits{Connections: 1}}, metrics.Options{})
	d.pollSession(t)
	if code, _ := d.do(t, "GET", "EIO=4&transport=polling", "", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("past the connection limit: HTTP %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = d.srv.Drain(ctx, 0)
	if code, _ := d.do(t, "GET", "EIO=4&transport=polling", "", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("while draining: HTTP %d", code)
	}
	fams = d.families(t)
	for _, cause := range []string{"connection_limit", "draining"} {
		if v, _ := value(fams, "siogate_refused_requests_total", "cause", cause); v != 1 {
			t.Fatalf("refused_requests_total{%s} = %v", cause, v)
		}
	}
}

// TestLabelBounds folds event names and namespaces past their bounds into
// "_other".
func TestLabelBounds(t *testing.T) {
	n := newNode(t, gateway.Config{}, metrics.Options{MaxEventNames: 2, MaxNamespaces: 1})
	for _, name := range []string{"a", "b", "c", "d"} {
		n.srv.Of("/").On(name, func(*gateway.Socket, *gateway.Event) []any { return []any{1} })
	}
	n.srv.Of("/x")
	n.srv.Of("/y")
	c, _ := n.connect(t, "")
	for i, name := range []string{"a", "b", "c", "d", "a"} {
		c.send(t, "42"+string(rune('0'+i))+`["`+name+`"]`)
		c.expect(t, "43"+string(rune('0'+i)))
	}
	c.send(t, "40/x,")
	c.expect(t, "40/x,")
	fams := n.families(t)
	for _, s := range []struct {
		event string
		count uint64
	}{{"a", 2}, {"b", 1}, {metrics.Other, 2}} {
		if got, _ := histogram(t, fams, "siogate_event_handler_seconds", "event", s.event); got != s.count {
			t.Fatalf("event_handler_seconds{%s}: %d samples, want %d", s.event, got, s.count)
		}
	}
	if len(fams["siogate_event_handler_seconds"].GetMetric()) != 3 {
		t.Fatalf("%d event series, want 3", len(fams["siogate_event_handler_seconds"].GetMetric()))
	}
	if v, _ := value(fams, "siogate_sockets", "namespace", "/"); v != 1 {
		t.Fatalf("sockets{/} = %v", v)
	}
	if v, _ := value(fams, "siogate_sockets", "namespace", metrics.Other); v != 1 {
		t.Fatalf("sockets{_other} = %v (/x and /y summed)", v)
	}
}

// TestNoDefaultRegistry: New takes its Registerer and registers nothing
// elsewhere; a second New on the same registry fails.
func TestNoDefaultRegistry(t *testing.T) {
	before, _ := prometheus.DefaultGatherer.Gather()
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, metrics.Options{}); err != nil {
		t.Fatal(err)
	}
	after, _ := prometheus.DefaultGatherer.Gather()
	if len(after) != len(before) {
		t.Fatalf("the default registry went from %d to %d families", len(before), len(after))
	}
	if _, err := metrics.New(reg, metrics.Options{}); err == nil {
		t.Fatal("a second New on the same registry succeeded")
	}
	if _, err := metrics.New(nil, metrics.Options{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// TestDetach: a detached server is neither observed nor scraped.
func TestDetach(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.NewServer(gateway.Config{})
	if srv.ObserverCount() != 0 {
		t.Fatal("a new server has observers")
	}
	detach := m.Attach(srv)
	if srv.ObserverCount() != 1 {
		t.Fatalf("attached: %d observers", srv.ObserverCount())
	}
	n := &node{srv: srv, m: m}
	n.io = httptest.NewServer(srv)
	defer n.io.Close()
	n.scraped = httptest.NewServer(metrics.Handler(reg))
	defer n.scraped.Close()
	n.connect(t, "")
	n.waitValue(t, 1, "siogate_connections", "transport", "websocket")
	detach()
	if srv.ObserverCount() != 0 {
		t.Fatalf("detached: %d observers", srv.ObserverCount())
	}
	n.connect(t, "")
	fams := n.families(t)
	if v, _ := value(fams, "siogate_connections", "transport", "websocket"); v != 0 {
		t.Fatalf("a detached server's connections scraped: %v", v)
	}
	if v, _ := value(fams, "siogate_socket_connects_total"); v != 1 {
		t.Fatalf("socket_connects_total %v after detaching, want the 1 from before", v)
	}
	if v, _ := value(fams, "siogate_packets_received_total"); v != 1 {
		t.Fatalf("packets_received_total %v after detaching, want the 1 CONNECT from before", v)
	}
}
