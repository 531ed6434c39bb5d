package redisadapter_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// TestShardedDuplicatesDropped: a numbered envelope (wire.StampSharded)
// that arrives twice from one sender on one channel, as after an outbox
// sent it again across a failover, is applied once; the same number on
// another channel (another shard) is another stream; envelopes without a
// number (Node's) are applied every time.
func TestShardedDuplicatesDropped(t *testing.T) {
	rc := redistest.StartCluster(t)
	cfg := adapter.ClusterConfig{Prefix: adaptertest.Prefix(t), RequestTimeout: 2 * time.Second}
	b := adaptertest.NewNode("B", "/", adapter.NewCluster(shardedBroker(t, rc, wire.ModeDynamic), cfg))
	t.Cleanup(func() { _ = b.Adapter.Close() })
	b.Connect("b1", false)
	b.Adapter.AddAll("b1", "r1")
	pub := shardedBroker(t, rc, wire.ModeDynamic)
	ctx := t.Context()
	main := wire.ShardedChannel(cfg.Prefix, "/")
	room := wire.ShardedSubChannel(cfg.Prefix, "/", "r1")
	adaptertest.Eventually(t, "B subscribed to the namespace and r1 channels", func() error {
		for _, ch := range []string{main, room} {
			if n, err := pub.NumSub(ctx, ch); err != nil || n != 1 {
				return fmt.Errorf("%s: %d subscribers, %v", ch, n, err)
			}
		}
		return nil
	})
	send := func(channel, ev string, seq uint64, rooms ...string) {
		t.Helper()
		data, err := wire.EncodeShardedBroadcast("peer-uid", "/", wire.Packet{Type: 2, Data: []any{ev}}, wire.Opts{Rooms: rooms})
		if err != nil {
			t.Fatal(err)
		}
		if seq > 0 {
			data = wire.StampSharded(data, seq)
		}
		if err := pub.Publish(ctx, channel, data); err != nil {
			t.Fatal(err)
		}
	}
	send(main, "one", 1)
	send(main, "one", 1)        // sent again: dropped
	send(room, "room", 1, "r1") // the room's channel counts apart
	send(room, "room", 1, "r1") // sent again: dropped
	send(main, "two", 2)
	send(main, "node", 0) // Node's envelopes have no number
	send(main, "node", 0)
	send(main, "end", 3)
	want := []string{`one[]`, `room[]`, `two[]`, `node[]`, `node[]`, `end[]`}
	adaptertest.Eventually(t, "b1 got the stream", func() error {
		got := b.Received("b1")
		if len(got) < len(want) {
			return fmt.Errorf("b1 has %v", got)
		}
		return nil
	})
	got := b.Received("b1")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("b1 received %v, want %v (each numbered envelope once)", b.Received("b1"), want)
	}
}
