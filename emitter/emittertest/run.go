// Package emittertest checks that the emitter reaches a cluster through a
// broker: every broker module runs it against its real broker.
//
//	func TestEmitter(t *testing.T) {
//		emittertest.Run(t, func(t *testing.T) adapter.Broker { return openBroker(t) }, adapter.ClusterConfig{})
//	}
package emittertest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/emitter"
)

// Run starts two cluster nodes, each on its own broker connection from
// open, and an emitter on a third; it checks that the emitter reaches a
// room, a single sid on the other node, everyone but one, a join, and the
// nodes' server-side handlers. cfg's Prefix is replaced by a unique one.
func Run(t *testing.T, open func(t *testing.T) adapter.Broker, cfg adapter.ClusterConfig) {
	t.Helper()
	RunWith(t, open, cfg, Options{})
}

// Options adjust the kit to a broker's guarantees.
type Options struct {
	// AnyOrder accepts a socket's events in any order: for layouts that
	// carry a single-room emit on a channel of its own (Redis sharded
	// pub/sub in the dynamic modes), whose order against the namespace's
	// channel is not kept, in Node as here.
	AnyOrder bool
}

// RunWith is Run with options.
func RunWith(t *testing.T, open func(t *testing.T) adapter.Broker, cfg adapter.ClusterConfig, o Options) {
	t.Helper()
	same := func(got, want []string) bool {
		if o.AnyOrder {
			got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
		}
		return slices.Equal(got, want)
	}
	cfg.Prefix = adaptertest.Prefix(t)
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 200 * time.Millisecond
	}
	a := adaptertest.NewNode("A", "/jobs", adapter.NewCluster(open(t), cfg))
	b := adaptertest.NewNode("B", "/jobs", adapter.NewCluster(open(t), cfg))
	t.Cleanup(func() { _ = a.Adapter.Close(); _ = b.Adapter.Close() })
	a.Connect("a1", false)
	b.Connect("b1", false)
	b.Connect("b2", false)
	b.Adapter.AddAll("b1", "room1")
	adaptertest.Eventually(t, "both nodes see each other", func() error {
		if n, _ := a.Adapter.ServerCount(context.Background()); n != 2 {
			return fmt.Errorf("A counts %d nodes", n)
		}
		return nil
	})

	ctx := context.Background()
	e := emitter.New(open(t), emitter.Options{Prefix: cfg.Prefix}).Of("/jobs")
	for _, err := range []error{
		e.To("room1").Emit(ctx, "room", []byte{1}),
		e.To("a1").Emit(ctx, "direct"),
		e.Except("b2").Emit(ctx, "all"),
		e.To("b2").SocketsJoin(ctx, "vip"),
		e.ServerSideEmit(ctx, "reload"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	adaptertest.Eventually(t, "every emit arrives", func() error {
		if got := b.Received("b1"); !same(got, []string{`room["AQ=="]`, `all[]`}) {
			return fmt.Errorf("b1 got %v", got)
		}
		if got := a.Received("a1"); !same(got, []string{`direct[]`, `all[]`}) {
			return fmt.Errorf("a1 got %v", got)
		}
		if !slices.Contains(b.Adapter.Rooms("b2"), "vip") {
			return fmt.Errorf("b2 rooms %v", b.Adapter.Rooms("b2"))
		}
		if len(a.ServerEvents()) != 1 || len(b.ServerEvents()) != 1 {
			return fmt.Errorf("server events A=%v B=%v", a.ServerEvents(), b.ServerEvents())
		}
		return nil
	})
	if got := b.Received("b2"); len(got) != 0 {
		t.Errorf("b2 got %v, want nothing", got)
	}
}
