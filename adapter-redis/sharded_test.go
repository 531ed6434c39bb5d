package redisadapter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/emitter/emittertest"
	"github.com/siogate/siogate/protocol/socketio"
)

// shardedBroker opens a sharded broker on the cluster in mode.
func shardedBroker(t *testing.T, rc *redistest.Cluster, mode wire.Mode) *redisadapter.Broker {
	t.Helper()
	b, err := redisadapter.NewBroker(redisadapter.Options{URL: rc.URL("sharded=" + string(mode))})
	if err != nil {
		t.Fatalf("sharded broker on the test's Redis Cluster: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestShardedConformance runs the adapter kit and the emitter kit on a
// private Redis Cluster (three masters, three replicas) in each of Node's
// subscription modes: SSUBSCRIBE/SPUBLISH, nodes counted with PUBSUB
// SHARDNUMSUB, a connection per node and slot.
func TestShardedConformance(t *testing.T) {
	rc := redistest.StartCluster(t)
	for _, mode := range []wire.Mode{wire.ModeDynamic, wire.ModeStatic, wire.ModeDynamicPrivate} {
		t.Run(string(mode), func(t *testing.T) {
			t.Run("Adapter", func(t *testing.T) {
				adaptertest.Run(t, func(t *testing.T) adapter.Factory {
					cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second}
					return func(local adapter.Local) adapter.Adapter {
						return adapter.NewCluster(shardedBroker(t, rc, mode), cfg)(local)
					}
				})
			})
			t.Run("Emitter", func(t *testing.T) {
				// A single-room emit and an emit to all travel on two
				// channels (two shards) except in the static mode.
				emittertest.RunWith(t, func(t *testing.T) adapter.Broker { return shardedBroker(t, rc, mode) }, adapter.ClusterConfig{},
					emittertest.Options{AnyOrder: mode != wire.ModeStatic})
			})
		})
	}
}

// TestShardedResharding moves the slot of a namespace's channel to
// another master while two nodes use it: the subscriber follows the slot
// (Redis drops its shard channel subscription with SUNSUBSCRIBE, or a
// MOVED answer sends it there) and broadcasts flow again.
func TestShardedResharding(t *testing.T) {
	rc := redistest.StartCluster(t)
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second}
	a := adaptertest.NewNode("A", "/moving", adapter.NewCluster(shardedBroker(t, rc, wire.ModeStatic), cfg))
	b := adaptertest.NewNode("B", "/moving", adapter.NewCluster(shardedBroker(t, rc, wire.ModeStatic), cfg))
	t.Cleanup(func() { _ = a.Adapter.Close(); _ = b.Adapter.Close() })
	b.Connect("b1", false)
	ctx := context.Background()
	adaptertest.Eventually(t, "A counts two nodes", func() error {
		if n, err := a.Adapter.ServerCount(ctx); err != nil || n != 2 {
			return fmt.Errorf("A counts %d, %v", n, err)
		}
		return nil
	})
	ch := wire.ShardedChannel(cfg.Prefix, "/moving")
	from := rc.MasterFor(t, ch)
	var to string
	for _, m := range rc.Masters(t) {
		if m != from {
			to = m
			break
		}
	}
	rc.MoveSlot(t, ch, to)
	i := 0
	adaptertest.Eventually(t, "broadcasts reach b1 after the slot moved", func() error {
		i++
		p, err := socketio.NewEvent("/moving", "after", []any{i})
		if err != nil {
			return err
		}
		_ = a.Adapter.Broadcast(ctx, &p, adapter.BroadcastOptions{})
		if len(b.Received("b1")) == 0 {
			return errors.New("b1 got nothing yet")
		}
		return nil
	})
	adaptertest.Eventually(t, "both nodes subscribed at the new master", func() error {
		n := rc.Do(t, to, "pubsub", "shardnumsub", ch)
		if !strings.HasSuffix(strings.TrimSpace(n), " 2]") {
			return fmt.Errorf("PUBSUB SHARDNUMSUB at %s: %s", to, n)
		}
		return nil
	})
}
