package redisadapter_test

import (
	"context"
	"sync"
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
	var (
		mu    sync.Mutex
		names = map[*testing.T]string{}
	)
	adaptertest.RunWorkQueue(t, func(t *testing.T) (adapter.WorkQueue, adapter.WorkConsumer) {
		mu.Lock()
		name, ok := names[t]
		if !ok {
			name = adaptertest.Prefix(t) + ":work"
			names[t] = name
			t.Cleanup(func() {
				c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
				defer c.Close()
				_ = c.Del(context.Background(), name).Err()
			})
		}
		mu.Unlock()
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		t.Cleanup(func() { _ = c.Close() })
		q := redisadapter.NewWorkQueue(c, redisadapter.WorkQueueOptions{Stream: name, ClaimIdle: time.Second, Block: 200 * time.Millisecond})
		return q, q
	}, adaptertest.WorkQueueTraits{Redeliver: time.Second})
}
