// Package redistest gives tests the shared Redis of the development
// machine (127.0.0.1:6379) and recovery stores on it that clean up after
// themselves. The modules whose stores keep their sessions in Redis (the
// Kafka and RabbitMQ ones) use it too.
package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	redisadapter "github.com/siogate/siogate/adapter-redis"
)

// Addr is the shared Redis.
const Addr = "127.0.0.1:6379"

// Client connects to the shared Redis, failing t when it does not answer;
// the client is closed at cleanup.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: Addr})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the shared Redis on %s does not answer: %v", Addr, err)
	}
	return c
}

// Store returns a recovery store on c whose stream and session keys are
// under a name of its own ("siogate-test:<test>:<time>:"), deleted at
// cleanup; opts' StreamName and SessionKeyPrefix are set so. It returns
// the name too.
func Store(t testing.TB, c redis.UniversalClient, opts redisadapter.RecoveryStoreOptions) (*redisadapter.RecoveryStore, string) {
	t.Helper()
	name := fmt.Sprintf("siogate-test:%s:%d", strings.ReplaceAll(t.Name(), " ", "_"), time.Now().UnixNano())
	opts.StreamName = name + ":stream"
	opts.SessionKeyPrefix = name + ":session:"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if keys, _ := c.Keys(ctx, name+":*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return redisadapter.NewRecoveryStore(c, opts), name
}

// Sessions returns a store on the shared Redis for the sessions of
// another module's store (its stream stays unused).
func Sessions(t testing.TB) *redisadapter.RecoveryStore {
	t.Helper()
	s, _ := Store(t, Client(t), redisadapter.RecoveryStoreOptions{})
	return s
}
