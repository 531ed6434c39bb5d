package redisadapter_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestWorkQueue runs the work queue kit on the shared Redis, a stream
// per subtest, each side with a client of its own.
func TestWorkQueue(t *testing.T) {
	adaptertest.RunWorkQueue(t, adaptertest.WorkQueueBroker{
		Create: func(t *testing.T, name string) {
			t.Cleanup(func() {
				c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
				defer c.Close()
				_ = c.Del(context.Background(), name).Err()
			})
		},
		Open: func(t *testing.T, name string) (adapter.WorkQueue, adapter.WorkConsumer) {
			c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
			t.Cleanup(func() { _ = c.Close() })
			q := redisadapter.NewWorkQueue(c, redisadapter.WorkQueueOptions{Stream: name, ClaimIdle: time.Second, Block: 200 * time.Millisecond})
			return q, q
		},
	}, adaptertest.WorkQueueTraits{Redeliver: time.Second})
}
