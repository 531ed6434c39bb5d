package redisadapter_test

import (
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/siogate/siogate/adapter/adaptertest"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/emitter/emittertest"
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
