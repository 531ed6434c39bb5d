package metrics_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/metrics"
)

// The overhead of the metrics: the same echo and broadcast, on a node
// with metrics attached and on one without. Besides ns/op each reports
// cpu-ns/op, the process's CPU time (server and clients) per operation,
// which is what the metrics add to.

// benchClient is a raw WebSocket client that answers pings, counts
// events and hands acks over.
type benchClient struct {
	conn  *gws.Conn
	wait  *fanIn // the events awaited, shared by the clients
	acks  chan struct{}
	ready chan struct{}
}

// fanIn signals done when the events of a broadcast have all arrived.
type fanIn struct {
	remaining atomic.Int64
	done      chan struct{}
}

func (*benchClient) OnOpen(*gws.Conn)                   {}
func (*benchClient) OnClose(*gws.Conn, error)           {}
func (*benchClient) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }
func (*benchClient) OnPong(*gws.Conn, []byte)           {}
func (c *benchClient) OnMessage(conn *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := m.Bytes()
	switch {
	case bytes.HasPrefix(b, []byte("42")):
		if c.wait.remaining.Add(-1) == 0 {
			c.wait.done <- struct{}{}
		}
	case bytes.HasPrefix(b, []byte("43")):
		c.acks <- struct{}{}
	case bytes.HasPrefix(b, []byte("40")):
		c.ready <- struct{}{}
	case len(b) == 1 && b[0] == '2':
		_ = conn.WriteString("3")
	}
}

// benchNode returns a node, with metrics attached or not, whose "echo"
// handler acknowledges.
func benchNode(b *testing.B, on bool) *node {
	b.Helper()
	cfg := gateway.Config{}
	cfg.Engine.QueueLimit = 1 << 24 // the benchmark may run ahead of the clients
	cfg.Limits.EventsPerSecond = -1
	var n *node
	if on {
		n = newNode(b, cfg, metrics.Options{})
	} else {
		srv := gateway.NewServer(cfg)
		n = &node{srv: srv, io: httptest.NewServer(srv)}
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			_ = srv.Shutdown(ctx)
			n.io.Close()
		})
	}
	n.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return []any{"ok"} })
	return n
}

func (n *node) benchClient(b *testing.B, wait *fanIn) *benchClient {
	b.Helper()
	c := &benchClient{wait: wait, acks: make(chan struct{}, 1), ready: make(chan struct{}, 1)}
	c.conn = n.dial(b, "", c)
	if err := c.conn.WriteString("40"); err != nil {
		b.Fatal(err)
	}
	select {
	case <-c.ready:
	case <-time.After(waitFor):
		b.Fatal("no CONNECT answer")
	}
	return c
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func metricsModes(b *testing.B, run func(b *testing.B, on bool)) {
	for _, on := range []bool{false, true} {
		name := "metrics=off"
		if on {
			name = "metrics=on"
		}
		b.Run(name, func(b *testing.B) { run(b, on) })
	}
}

// BenchmarkEcho: an event with an ack and its answer, one at a time.
func BenchmarkEcho(b *testing.B) {
	metricsModes(b, func(b *testing.B, on bool) {
		n := benchNode(b, on)
		c := n.benchClient(b, &fanIn{done: make(chan struct{}, 1)})
		msg := []byte(`421["echo","hello"]`)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for range b.N {
			if err := c.conn.WriteMessage(gws.OpcodeText, msg); err != nil {
				b.Fatal(err)
			}
			<-c.acks
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkBroadcast100: a broadcast to 100 sockets, until all have it.
func BenchmarkBroadcast100(b *testing.B) {
	metricsModes(b, func(b *testing.B, on bool) {
		n := benchNode(b, on)
		wait := &fanIn{done: make(chan struct{}, 1)}
		for range 100 {
			n.benchClient(b, wait)
		}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for range b.N {
			wait.remaining.Store(100)
			if err := n.srv.Emit(ctx, "news", "hello"); err != nil {
				b.Fatal(err)
			}
			<-wait.done
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}
