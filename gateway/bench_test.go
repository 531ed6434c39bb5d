package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/gateway"
)

// countingClient is a raw WebSocket client that answers pings, counts
// event packets and signals when a target count is reached.
type countingClient struct {
	conn   *gws.Conn
	events atomic.Int64
	acks   chan struct{} // one token per ACK received, when non-nil
	ready  chan string   // the CONNECT answer
}

func (*countingClient) OnOpen(*gws.Conn)                   {}
func (*countingClient) OnClose(*gws.Conn, error)           {}
func (*countingClient) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }
func (*countingClient) OnPong(*gws.Conn, []byte)           {}
func (c *countingClient) OnMessage(conn *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := m.Bytes()
	switch {
	case bytes.HasPrefix(b, []byte("42")):
		c.events.Add(1)
	case bytes.HasPrefix(b, []byte("43")):
		if c.acks != nil {
			c.acks <- struct{}{}
		}
	case bytes.HasPrefix(b, []byte("40")):
		c.ready <- string(b)
	case len(b) == 1 && b[0] == '2':
		_ = conn.WriteString("3")
	}
}

func benchServer(b *testing.B) *testServer {
	cfg := gateway.Config{}
	cfg.Engine.QueueLimit = 1 << 24 // the benchmark may run ahead of the client
	return newSIO(b, cfg)
}

func benchClient(b *testing.B, ts *testServer, auth string) *countingClient {
	b.Helper()
	c := &countingClient{ready: make(chan string, 1)}
	addr := "ws" + strings.TrimPrefix(ts.base(), "http") + "&transport=websocket"
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: addr})
	if err != nil {
		b.Fatal(err)
	}
	c.conn = conn
	go conn.ReadLoop()
	b.Cleanup(func() { _ = conn.NetConn().Close() })
	if err := conn.WriteString("40" + auth); err != nil {
		b.Fatal(err)
	}
	recv(b, c.ready, "CONNECT answer")
	return c
}

func waitCount(b *testing.B, n *atomic.Int64, want int64) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for n.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d packets", n.Load(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// BenchmarkSocketEmit: Socket.Emit to one WebSocket client, until the
// client has read every event.
func BenchmarkSocketEmit(b *testing.B) {
	ts := benchServer(b)
	socks := make(chan *gateway.Socket, 1)
	ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error { socks <- s; return nil })
	c := benchClient(b, ts, "")
	s := recv(b, socks, "socket")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Emit("tick", i, "payload"); err != nil {
			b.Fatal(err)
		}
	}
	waitCount(b, &c.events, int64(b.N))
}

// roomClients starts a bench server whose sockets join "room", and n
// WebSocket clients of it.
func roomClients(b *testing.B, n int) (*testServer, []*countingClient) {
	ts := benchServer(b)
	ts.srv.Of("/").OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		s.Join("room")
		return nil
	})
	cs := make([]*countingClient, n)
	for i := range cs {
		cs[i] = benchClient(b, ts, "")
	}
	return ts, cs
}

// BenchmarkBroadcast100: srv.To(room).Emit to 100 WebSocket clients,
// until all have received every event.
func BenchmarkBroadcast100(b *testing.B) {
	ts, cs := roomClients(b, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ts.srv.To("room").Emit(context.Background(), "tick", i, "payload"); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range cs {
		waitCount(b, &c.events, int64(b.N))
	}
}

// BenchmarkBroadcastEach1000: srv.To(room).Emit to 1000 WebSocket
// clients, one broadcast at a time (each waits until every client has the
// previous one), as the fanout scale scenario does: nothing batches. It
// reports the goroutines the process created per broadcast (clients
// included: their readers create none per message).
func BenchmarkBroadcastEach1000(b *testing.B) {
	ts, cs := roomClients(b, 1000)
	created := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(created)
	before := created[0].Value.Uint64()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ts.srv.To("room").Emit(context.Background(), "tick", i, "payload"); err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			waitCount(b, &c.events, int64(i+1))
		}
	}
	b.StopTimer()
	metrics.Read(created)
	b.ReportMetric(float64(created[0].Value.Uint64()-before)/float64(b.N), "goroutines/op")
}

// BenchmarkEchoAck: a client sends events asking for an ack (up to 64 in
// flight) and the server's handler returns the arguments.
func BenchmarkEchoAck(b *testing.B) {
	ts := benchServer(b)
	ts.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
	c := benchClient(b, ts, "")
	c.acks = make(chan struct{}, 1024)
	const window = 64
	msgs := make([][]byte, 1024)
	for i := range msgs {
		msgs[i] = fmt.Appendf(nil, `42%d["echo",%d,"payload"]`, i, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	inflight := 0
	for i := 0; i < b.N; i++ {
		if inflight == window {
			select {
			case <-c.acks:
				inflight--
			case <-ctx.Done():
				b.Fatal("acks stopped coming")
			}
		}
		if err := c.conn.WriteMessage(gws.OpcodeText, msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		inflight++
	}
	for ; inflight > 0; inflight-- {
		select {
		case <-c.acks:
		case <-ctx.Done():
			b.Fatal("acks stopped coming")
		}
	}
}
