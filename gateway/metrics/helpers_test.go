package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/metrics"
)

const waitFor = 10 * time.Second

// node is a gateway server with metrics, over real HTTP: the Socket.IO
// listener and the metrics listener apart, as the binary runs them.
type node struct {
	srv     *gateway.Server
	m       *metrics.Metrics
	io      *httptest.Server
	scraped *httptest.Server
}

func newNode(t testing.TB, cfg gateway.Config, opts metrics.Options) *node {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return startNode(t, cfg, m, reg)
}

func startNode(t testing.TB, cfg gateway.Config, m *metrics.Metrics, reg *prometheus.Registry) *node {
	t.Helper()
	srv := gateway.NewServer(cfg)
	detach := m.Attach(srv)
	n := &node{srv: srv, m: m, io: httptest.NewServer(srv), scraped: httptest.NewServer(metrics.Handler(reg))}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = srv.Shutdown(ctx)
		detach()
		n.io.Close()
		n.scraped.Close()
	})
	return n
}

// families scrapes the node's metrics over HTTP and parses them with the
// Prometheus text parser.
func (n *node) families(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(n.scraped.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: HTTP %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// value returns the value of the series of metric name with the given
// labels (name=value pairs; other labels must be absent), and whether it
// exists. For a histogram it is the sample count.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels)/2 {
			continue
		}
		ok := true
		for _, l := range m.GetLabel() {
			found := false
			for i := 0; i+1 < len(labels); i += 2 {
				if labels[i] == l.GetName() && labels[i+1] == l.GetValue() {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// histogram returns a histogram series' count and sum.
func histogram(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) (uint64, float64) {
	t.Helper()
	if _, ok := value(fams, name, labels...); !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	for _, m := range fams[name].GetMetric() {
		match := len(m.GetLabel()) == len(labels)/2
		for i, l := range m.GetLabel() {
			match = match && labels[2*i] == l.GetName() && labels[2*i+1] == l.GetValue()
		}
		if match {
			return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
		}
	}
	t.Fatalf("no series %s%v (labels out of order?)", name, labels)
	return 0, 0
}

// waitValue scrapes until the series has the value want.
func (n *node) waitValue(t testing.TB, want float64, name string, labels ...string) map[string]*dto.MetricFamily {
	t.Helper()
	return n.waitFor(t, func(v float64) bool { return v == want }, want, name, labels...)
}

// waitAtLeast scrapes until the series has a value of at least least.
func (n *node) waitAtLeast(t testing.TB, least float64, name string, labels ...string) map[string]*dto.MetricFamily {
	t.Helper()
	return n.waitFor(t, func(v float64) bool { return v >= least }, least, name, labels...)
}

func (n *node) waitFor(t testing.TB, ok func(float64) bool, want float64, name string, labels ...string) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		fams := n.families(t)
		v, _ := value(fams, name, labels...)
		if ok(v) {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, v, want)
		}
		time.Sleep(5 * time.Millisecond) // between scrapes, not a timing assumption
	}
}

// wsClient is a raw Engine.IO/Socket.IO client over WebSocket: it answers
// pings and hands every other text frame to frames.
type wsClient struct {
	conn   *gws.Conn
	frames chan string
	closed chan struct{}
}

func (*wsClient) OnOpen(*gws.Conn)                   {}
func (c *wsClient) OnClose(*gws.Conn, error)         { close(c.closed) }
func (*wsClient) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }
func (*wsClient) OnPong(*gws.Conn, []byte)           {}
func (c *wsClient) OnMessage(conn *gws.Conn, m *gws.Message) {
	defer m.Close()
	s := m.Data.String()
	if s == "2" {
		_ = conn.WriteString("3")
		return
	}
	select {
	case c.frames <- s:
	default: // a test that does not read them
	}
}

// dial opens a WebSocket to the node, query added to the URL, with h
// hearing its events, and starts its reader.
func (n *node) dial(t testing.TB, query string, h gws.Event) *gws.Conn {
	t.Helper()
	addr := "ws" + strings.TrimPrefix(n.io.URL, "http") + "/socket.io/?EIO=4&transport=websocket" + query
	conn, _, err := gws.NewClient(h, &gws.ClientOption{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	go conn.ReadLoop()
	t.Cleanup(func() { _ = conn.NetConn().Close() })
	return conn
}

// dialWS opens a WebSocket to the node; query is added to the URL.
func (n *node) dialWS(t testing.TB, query string) *wsClient {
	t.Helper()
	c := &wsClient{frames: make(chan string, 1024), closed: make(chan struct{})}
	c.conn = n.dial(t, query, c)
	return c
}

// next returns the next frame.
func (c *wsClient) next(t testing.TB) string {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(waitFor):
		t.Fatal("no frame")
		return ""
	}
}

// expect returns the next frame, which must start with prefix.
func (c *wsClient) expect(t testing.TB, prefix string) string {
	t.Helper()
	f := c.next(t)
	if !strings.HasPrefix(f, prefix) {
		t.Fatalf("frame %q, want %q...", f, prefix)
	}
	return f
}

func (c *wsClient) send(t testing.TB, text string) {
	t.Helper()
	if err := c.conn.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// connect opens a WebSocket session and joins namespace "/" with auth
// (empty for none); it returns the client and the CONNECT answer's data.
// Events replayed to a recovered socket are skipped.
func (n *node) connect(t testing.TB, auth string) (*wsClient, map[string]string) {
	t.Helper()
	c := n.dialWS(t, "")
	c.expect(t, "0{")
	c.send(t, "40"+auth)
	ack := c.next(t)
	for strings.HasPrefix(ack, "42") { // events a recovered socket missed
		ack = c.next(t)
	}
	if !strings.HasPrefix(ack, "40") {
		t.Fatalf("CONNECT answer %q", ack)
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(strings.TrimPrefix(ack, "40")), &data); err != nil {
		t.Fatalf("CONNECT answer %q: %v", ack, err)
	}
	return c, data
}

// do makes an HTTP request to the node's Socket.IO path.
func (n *node) do(t testing.TB, method, query, body string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.io.URL+"/socket.io/?"+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pollSession opens a polling session and returns its sid.
func (n *node) pollSession(t testing.TB) string {
	t.Helper()
	code, body := n.do(t, "GET", "EIO=4&transport=polling", "", nil)
	if code != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Fatalf("polling handshake: %d %q", code, body)
	}
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	return open.SID
}
