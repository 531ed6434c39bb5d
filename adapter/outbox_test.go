package adapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/protocol/socketio"
)

// gate is a broker in front of a Bus whose publishes can be made to fail
// (an outage) or to hang (a slow broker) on the test's command.
type gate struct {
	bus *adapter.Bus

	mu    sync.Mutex
	down  bool
	block chan struct{} // publishes wait on it while not nil
}

func (g *gate) Publish(ctx context.Context, channel string, data []byte) error {
	g.mu.Lock()
	down, block := g.down, g.block
	g.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if down {
		return errors.New("gate: broker down")
	}
	return g.bus.Publish(ctx, channel, data)
}

func (g *gate) Subscribe(ctx context.Context, sub adapter.Subscription) (io.Closer, error) {
	return g.bus.Subscribe(ctx, sub)
}

func (g *gate) NumSub(ctx context.Context, channel string) (int, error) {
	return g.bus.NumSub(ctx, channel)
}

func (g *gate) set(down bool, block chan struct{}) {
	g.mu.Lock()
	g.down, g.block = down, block
	g.mu.Unlock()
}

// twoNodes starts nodes A and B of namespace "/", each on its broker, and
// closes them when t ends.
func twoNodes(t *testing.T, bA adapter.Broker, cfgA adapter.ClusterConfig, bB adapter.Broker, cfgB adapter.ClusterConfig) (a, b *adaptertest.Node) {
	a = adaptertest.NewNode("A", "/", adapter.NewCluster(bA, cfgA))
	b = adaptertest.NewNode("B", "/", adapter.NewCluster(bB, cfgB))
	t.Cleanup(func() {
		_ = a.Adapter.Close()
		_ = b.Adapter.Close()
	})
	return a, b
}

func ev(t *testing.T, name string) *socketio.Packet {
	t.Helper()
	p, err := socketio.NewEvent("/", name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

// During an outage a node's broadcasts are queued up to the limit, the
// rest dropped, counted and logged once per outage; once the broker is
// back the queue is sent in order.
func TestOutboxHoldsThenDrops(t *testing.T) {
	bus := adapter.NewBus()
	g := &gate{bus: bus}
	var logs adaptertest.LogBuffer
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second, OutboxLimit: 5}
	cfgA := cfg
	cfgA.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a, b := twoNodes(t, g, cfgA, bus, cfg)
	b.Connect("b1", false)
	ctx := context.Background()
	to := adapter.BroadcastOptions{Rooms: []string{"b1"}}
	const full = "outbound queue to the broker is full"

	for round := 1; round <= 2; round++ {
		g.set(true, nil)
		var sent []string
		for i := range 8 {
			name := fmt.Sprintf("r%d-%d", round, i)
			err := a.Adapter.Broadcast(ctx, ev(t, name), to)
			switch {
			case err == nil:
				sent = append(sent, name+"[]")
			case errors.Is(err, adapter.ErrQueueFull):
			default:
				t.Fatalf("broadcast %s: %v", name, err)
			}
		}
		if len(sent) != 5 {
			t.Errorf("round %d: %d broadcasts queued, want the limit (5)", round, len(sent))
		}
		if got := a.Adapter.(*adapter.Cluster).Stats().Dropped; got != uint64(3*round) {
			t.Errorf("round %d: %d dropped, want %d", round, got, 3*round)
		}
		if n := logs.Count(full); n != round {
			t.Errorf("round %d: overflow logged %d times, want once per outage:\n%s", round, n, logs.String())
		}
		g.set(false, nil)
		adaptertest.Eventually(t, "the held broadcasts arrive in order", func() error {
			var got []string
			for _, e := range b.Received("b1") {
				if slices.Contains(sent, e) {
					got = append(got, e)
				}
			}
			if !slices.Equal(got, sent) {
				return fmt.Errorf("b1 got %v, want %v", got, sent)
			}
			return nil
		})
		adaptertest.Eventually(t, "the queue empties", func() error {
			if s := a.Adapter.(*adapter.Cluster).Stats(); s.Queued != 0 || s.QueuedBytes != 0 {
				return fmt.Errorf("stats %+v", s)
			}
			return nil
		})
	}
}

// The byte bound holds too.
func TestOutboxByteBound(t *testing.T) {
	g := &gate{bus: adapter.NewBus()}
	g.set(true, nil)
	a := adaptertest.NewNode("A", "/", adapter.NewCluster(g, adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), OutboxBytes: 4096, RequestTimeout: 200 * time.Millisecond}))
	defer a.Adapter.Close()
	big := make([]byte, 1500)
	p, err := socketio.NewEvent("/", "big", []any{big})
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for range 4 {
		errs = append(errs, a.Adapter.Broadcast(context.Background(), &p, adapter.BroadcastOptions{}))
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], adapter.ErrQueueFull) || !errors.Is(errs[3], adapter.ErrQueueFull) {
		t.Errorf("errors %v, want two queued (about 1.5 KiB each under 4 KiB) and two dropped", errs)
	}
	if s := a.Adapter.(*adapter.Cluster).Stats(); s.Queued != 2 || s.Dropped != 2 || s.QueuedBytes > 4096 {
		t.Errorf("stats %+v", s)
	}
}

// A broker that hangs never blocks the caller of Broadcast: every call
// returns while the broker still holds the first publish.
func TestPublishNeverBlocks(t *testing.T) {
	bus := adapter.NewBus()
	g := &gate{bus: bus}
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second}
	a, b := twoNodes(t, g, cfg, bus, cfg)
	a.Connect("a1", false)
	b.Connect("b1", false)
	release := make(chan struct{})
	g.set(false, release)
	for i := range 100 {
		if err := a.Adapter.Broadcast(context.Background(), ev(t, fmt.Sprint("e", i)), adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(a.Received("a1")); got != 100 {
		t.Errorf("a1 got %d local broadcasts, want 100 at once", got)
	}
	// A request that waits for answers ends within its timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	socks, err := a.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{})
	cancel()
	if !errors.Is(err, adapter.ErrTimeout) || len(socks) != 1 {
		t.Errorf("FetchSockets with the broker hung: %v, %v; want a1 and a timeout", socks, err)
	}
	if len(b.Received("b1")) != 0 {
		t.Error("b1 got a broadcast while the broker held every publish")
	}
	g.set(false, nil)
	close(release)
	adaptertest.Eventually(t, "b1 gets the 100 broadcasts once the broker goes on", func() error {
		if n := len(b.Received("b1")); n != 100 {
			return fmt.Errorf("b1 got %d", n)
		}
		return nil
	})
}

// A request still queued when its requester stops waiting is not sent
// once the broker is back (nobody would read the answers), and is counted
// in Stats().Expired, apart from the messages dropped by a full queue.
func TestOutboxSkipsExpiredRequests(t *testing.T) {
	bus := adapter.NewBus()
	g := &gate{bus: bus}
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second}
	a, b := twoNodes(t, g, cfg, bus, cfg)
	b.Connect("b1", false)
	g.set(true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := a.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{}); err == nil {
		t.Fatal("FetchSockets answered while the broker refused every publish")
	}
	cluster := a.Adapter.(*adapter.Cluster)
	if s := cluster.Stats(); s.Queued == 0 || s.Expired != 0 {
		t.Fatalf("while the broker is down: %+v, want the request queued and nothing expired yet", s)
	}
	g.set(false, nil)
	adaptertest.Eventually(t, "the expired request leaves the queue unsent", func() error {
		if s := cluster.Stats(); s.Queued != 0 || s.Expired != 1 || s.Dropped != 0 {
			return fmt.Errorf("stats %+v, want nothing queued, 1 expired, 0 dropped", s)
		}
		return nil
	})
}
