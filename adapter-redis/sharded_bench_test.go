package redisadapter_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/siogate/siogate/adapter/wire"
)

// BenchmarkClusterPubSub compares classic pub/sub (PUBLISH/SUBSCRIBE,
// which Redis Cluster copies to every node over its bus) with sharded
// pub/sub (SPUBLISH/SSUBSCRIBE, kept on the shard of the channel's slot)
// on one private Redis Cluster of three masters and three replicas. The
// channels are 32 namespaces' channels, spread over the shards; 16
// goroutines publish 200-byte messages through one broker, and two other
// brokers (two receiving nodes) subscribe to every channel. It reports
// deliveries per second (each message reaches both receivers) and the
// Redis CPU time spent per published message, all six processes together.
func BenchmarkClusterPubSub(b *testing.B) {
	rc := redistest.StartCluster(b)
	for _, mode := range []string{"classic", "sharded"} {
		open := func() *redisadapter.Broker {
			q := ""
			if mode == "sharded" {
				q = "sharded=static"
			}
			br, err := redisadapter.NewBroker(redisadapter.Options{URL: rc.URL(q)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = br.Close() })
			return br
		}
		const channels, publishers, receivers = 32, 16, 2
		prefix := fmt.Sprintf("bench-%s-%d", mode, time.Now().UnixNano())
		names := make([]string, channels)
		for i := range names {
			names[i] = wire.ShardedChannel(prefix, fmt.Sprintf("/ns%d", i))
		}
		var got atomic.Int64
		for range receivers {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := open().Subscribe(ctx, adapter.Subscription{Channels: names, Deliver: func(string, []byte) { got.Add(1) }})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
		pub := open()
		b.Run(mode, func(b *testing.B) {
			got.Store(0)
			payload := make([]byte, 200)
			cpu0 := rc.CPUTime()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range publishers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if err := pub.Publish(ctx, names[i%channels], payload); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			want := int64(b.N) * receivers
			deadline := time.Now().Add(30 * time.Second)
			for got.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if n := got.Load(); n < want {
				b.Fatalf("%d of %d deliveries in 30s", n, want)
			}
			b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64((rc.CPUTime()-cpu0).Microseconds())/float64(b.N), "redis-cpu-µs/msg")
		})
	}
}
