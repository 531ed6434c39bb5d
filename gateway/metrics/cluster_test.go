package metrics_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/metrics"
)

// gate is a broker in front of a Bus that can fail every publish
// (broken) or accept and lose them (mute).
type gate struct {
	bus          *adapter.Bus
	broken, mute atomic.Bool
}

func (g *gate) Publish(ctx context.Context, channel string, data []byte) error {
	if g.broken.Load() {
		return errors.New("gate: broker away")
	}
	if g.mute.Load() {
		return nil
	}
	return g.bus.Publish(ctx, channel, data)
}

func (g *gate) Subscribe(ctx context.Context, sub adapter.Subscription) (io.Closer, error) {
	return g.bus.Subscribe(ctx, sub)
}

func (g *gate) NumSub(ctx context.Context, channel string) (int, error) {
	return g.bus.NumSub(ctx, channel)
}

// clusterNode is a node on the bus, through its own gate, with metrics on
// its adapters.
func clusterNode(t *testing.T, bus *adapter.Bus) (*node, *gate) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{bus: bus}
	cfg := gateway.Config{Adapter: adapter.NewCluster(g, adapter.ClusterConfig{
		RequestTimeout: 300 * time.Millisecond,
		Observer:       m.ClusterObserver(),
	})}
	return startNode(t, cfg, m, reg), g
}

// TestClusterMetrics counts cross-node requests and their timeouts,
// publishes, deliveries, publish errors and the broker's state.
func TestClusterMetrics(t *testing.T) {
	bus := adapter.NewBus()
	a, ga := clusterNode(t, bus)
	b, gb := clusterNode(t, bus)
	b.connect(t, "")
	ctx := context.Background()

	socks, err := a.srv.Of("/").FetchSockets(ctx)
	if err != nil || len(socks) != 1 {
		t.Fatalf("FetchSockets: %d sockets, %v", len(socks), err)
	}
	fams := a.families(t)
	if v, _ := value(fams, "siogate_adapter_requests_total", "type", "remote_fetch"); v != 1 {
		t.Fatalf("adapter_requests_total{remote_fetch} = %v", v)
	}
	for _, name := range []string{"siogate_adapter_published_total", "siogate_adapter_received_total"} {
		if v, _ := value(fams, name); v < 1 {
			t.Fatalf("%s = %v", name, v)
		}
	}
	b.waitAtLeast(t, 1, "siogate_adapter_received_total")

	// b loses its answers: a's request times out.
	gb.mute.Store(true)
	if _, err := a.srv.Of("/").FetchSockets(ctx); !errors.Is(err, adapter.ErrTimeout) {
		t.Fatalf("FetchSockets with b mute: %v", err)
	}
	if v, _ := value(a.families(t), "siogate_adapter_request_timeouts_total", "type", "remote_fetch"); v != 1 {
		t.Fatalf("adapter_request_timeouts_total{remote_fetch} = %v", v)
	}
	gb.mute.Store(false)

	// a's broker goes away: publishes fail, the broker is down; it comes
	// back and the held message goes out.
	ga.broken.Store(true)
	if err := a.srv.Emit(ctx, "news", "held"); err != nil {
		t.Fatal(err)
	}
	a.waitAtLeast(t, 1, "siogate_adapter_publish_errors_total")
	a.waitValue(t, 0, "siogate_adapter_broker_up")
	// A request made meanwhile ends unanswered; it is not sent later.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if _, err := a.srv.Of("/").FetchSockets(short); err == nil {
		t.Fatal("FetchSockets answered while a's broker was away")
	}
	cancel()
	ga.broken.Store(false)
	a.waitValue(t, 1, "siogate_adapter_broker_up")
	a.waitValue(t, 0, "siogate_adapter_outbox_messages")
	a.waitValue(t, 1, "siogate_adapter_outbox_expired_total")
}

// TestOutboxDrops counts the messages dropped by a full outbox.
func TestOutboxDrops(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{bus: adapter.NewBus()}
	g.broken.Store(true)
	cfg := gateway.Config{Adapter: adapter.NewCluster(g, adapter.ClusterConfig{
		RequestTimeout: 300 * time.Millisecond,
		OutboxLimit:    2,
		Observer:       m.ClusterObserver(),
	})}
	n := startNode(t, cfg, m, reg)
	for range 5 {
		_ = n.srv.Emit(context.Background(), "news", "x")
	}
	// One message is being tried, two are queued at most: at least two of
	// the five are dropped.
	fams := n.waitAtLeast(t, 2, "siogate_adapter_outbox_dropped_total")
	if v, _ := value(fams, "siogate_adapter_outbox_messages"); v < 1 || v > 2 {
		t.Fatalf("adapter_outbox_messages = %v", v)
	}
	g.broken.Store(false)
}
