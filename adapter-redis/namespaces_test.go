//go:build linux

package redisadapter_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestNamespacesShareOneConnection runs the brokers' common check
// (adaptertest.RunNamespaces) on a private Redis: one subscribing
// connection for every namespace, channels and patterns released as the
// namespaces close, counted by the server (INFO clients, PUBSUB).
func TestNamespacesShareOneConnection(t *testing.T) {
	r := &privateRedis{bin: redisServerBinary(t), dir: t.TempDir(), port: outageFreePort(t)}
	r.start(t)
	defer r.kill(t)
	probe := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), PoolSize: 1})
	defer probe.Close()
	ctx := context.Background()
	adaptertest.RunNamespaces(t, adaptertest.Namespaces{
		Broker: func(t *testing.T, _ string) adapter.Broker {
			b, err := redisadapter.NewBroker(redisadapter.Options{URL: fmt.Sprintf("redis://127.0.0.1:%d/0?pool_size=3", r.port)})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Usage: func(t *testing.T, prefix string) adaptertest.Usage {
			channels, err := probe.PubSubChannels(ctx, prefix+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			patterns, err := probe.PubSubNumPat(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			return adaptertest.Usage{
				Connections:   connectedClients(t, probe) - 1, // the probe's own
				Subscriptions: len(channels) + int(patterns),
			}
		},
		// The subscriber, and the command pool (fixed at 3 here: go-redis
		// opens pool connections as commands run at once, up to
		// PoolSize, 20 on 2 cores by default, whatever the namespaces).
		MaxConnections: 4,
	})
}
