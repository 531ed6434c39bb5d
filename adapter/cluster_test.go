package adapter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// The conformance kit over the in-process bus, counting nodes both ways.
func TestClusterConformanceBusNumSub(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		return adapter.NewCluster(adapter.NewBus(), adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second})
	})
}

func TestClusterConformanceBusHeartbeat(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		return adapter.NewCluster(adapter.NewBus().WithoutCounting(), adapter.ClusterConfig{
			Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond,
		})
	})
}

// Server-side events wait for a slow handler in a bounded queue; past it
// they are dropped and counted.
func TestServerEventQueueFull(t *testing.T) {
	bus := adapter.NewBus()
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: time.Second}
	a := adaptertest.NewNode("A", "/", adapter.NewCluster(bus, cfg))
	b := adaptertest.NewNode("B", "/", adapter.NewCluster(bus, cfg))
	defer a.Adapter.Close()
	defer b.Adapter.Close()
	release := make(chan struct{})
	entered := b.HoldServerEvent("slow", release)
	ctx := context.Background()
	if _, err := a.Adapter.ServerSideEmit(ctx, "slow", nil, false); err != nil {
		t.Fatal(err)
	}
	<-entered
	const queued = 256 // the adapter's queue
	for i := range queued + 3 {
		if _, err := a.Adapter.ServerSideEmit(ctx, "e", []any{i}, false); err != nil {
			t.Fatal(err)
		}
	}
	adaptertest.Eventually(t, "the events past the queue are dropped", func() error {
		if d := b.Adapter.(*adapter.Cluster).Stats().ServerEventsDropped; d != 3 {
			return fmt.Errorf("%d dropped", d)
		}
		return nil
	})
	close(release)
	adaptertest.Eventually(t, "the queued events run", func() error {
		if n := len(b.ServerEvents()); n != 1+queued {
			return fmt.Errorf("%d handled", n)
		}
		return nil
	})
}
