package redisadapter_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// sharedRedis connects to the shared Redis on :6379.
func sharedRedis(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the shared Redis on 127.0.0.1:6379 does not answer: %v", err)
	}
	return c
}

// testStore returns a store with its own stream and session prefix on c,
// both removed at cleanup.
func testStore(t *testing.T, c redis.UniversalClient, opts redisadapter.RecoveryStoreOptions) *redisadapter.RecoveryStore {
	t.Helper()
	name := fmt.Sprintf("siogate-test:%s:%d", t.Name(), time.Now().UnixNano())
	opts.StreamName = name + ":stream"
	opts.SessionKeyPrefix = name + ":session:"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, _ := c.Keys(ctx, name+":*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return redisadapter.NewRecoveryStore(c, opts)
}

func TestRecoveryStoreConformance(t *testing.T) {
	c := sharedRedis(t)
	adaptertest.RunStore(t, func(t *testing.T) adapter.RecoveryStore {
		return testStore(t, c, redisadapter.RecoveryStoreOptions{ReadCount: 7})
	})
}

func TestRecoveryStoreTrimmed(t *testing.T) {
	c := sharedRedis(t)
	ctx := context.Background()
	s := testStore(t, c, redisadapter.RecoveryStoreOptions{MaxLen: 10})
	head, err := s.Head(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	var offs []string
	// MAXLEN ~ trims whole stream nodes (100 entries by default): append
	// until the first entry is gone.
	adaptertest.Eventually(t, "the stream is trimmed", func() error {
		off, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["e"]`)})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
		if n, err := c.XRange(ctx, streamOf(t, s, c), offs[0], offs[0]).Result(); err != nil || len(n) > 0 {
			return fmt.Errorf("first entry still there (%v)", err)
		}
		return nil
	})
	for _, off := range []string{offs[0], head, ""} {
		if _, err := s.Since(ctx, "/", off, nil, 1000); !errors.Is(err, adapter.ErrOffsetGone) {
			t.Fatalf("Since(%q) after the trim: %v, want ErrOffsetGone", off, err)
		}
	}
	last := len(offs) - 1
	got, err := s.Since(ctx, "/", offs[last-3], nil, 1000)
	if err != nil || len(got) != 3 {
		t.Fatalf("Since(a kept offset) = %d packets, %v; want 3", len(got), err)
	}
	if got, err := s.Since(ctx, "/", offs[last], nil, 1000); err != nil || len(got) != 0 {
		t.Fatalf("Since(newest) = %d packets, %v", len(got), err)
	}
}

// streamOf finds the stream key of s (the only stream under the test's
// name).
func streamOf(t *testing.T, s *redisadapter.RecoveryStore, c *redis.Client) string {
	t.Helper()
	keys, err := c.Keys(context.Background(), fmt.Sprintf("siogate-test:%s:*:stream", t.Name())).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("stream key of the test: %q, %v", keys, err)
	}
	return keys[0]
}

// BenchmarkRecoveryStore measures the store's calls against the shared
// Redis (the latencies quoted in the report).
func BenchmarkRecoveryStore(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	name := fmt.Sprintf("siogate-bench:%d", time.Now().UnixNano())
	defer func() {
		if keys, _ := c.Keys(context.Background(), name+":*").Result(); len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	}()
	adaptertest.BenchStore(b, redisadapter.NewRecoveryStore(c, redisadapter.RecoveryStoreOptions{StreamName: name + ":stream", SessionKeyPrefix: name + ":session:"}))
}
