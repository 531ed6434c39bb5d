//go:build cgo

package kafkaadapter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// sessionStore returns a Redis session store on the shared Redis with its
// own key prefix, removed at cleanup.
func sessionStore(t testing.TB) *redisadapter.RecoveryStore {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the shared Redis on 127.0.0.1:6379 does not answer: %v", err)
	}
	prefix := fmt.Sprintf("siogate-test:kafka:%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if keys, _ := c.Keys(ctx, prefix+":*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return redisadapter.NewRecoveryStore(c, redisadapter.RecoveryStoreOptions{StreamName: prefix + ":unused", SessionKeyPrefix: prefix + ":session:"})
}

// kafkaStore returns a store on mc with its own topic, and sessions in
// sessions.
func kafkaStore(t testing.TB, mc *ck.MockCluster, sessions adapter.RecoveryStore) (*kafkaadapter.RecoveryStore, string) {
	t.Helper()
	topic := fmt.Sprintf("siogate-recovery-test-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := kafkaadapter.NewRecoveryStore(ctx, kafkaadapter.RecoveryStoreOptions{
		URL:         "kafka://" + mc.BootstrapServers(),
		Topic:       topic,
		CreateTopic: createTopic(mc),
		Sessions:    sessions,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, topic
}

// TestRecoveryStoreConformance runs the kit on events in Kafka (the mock
// cluster) and sessions in the shared Redis: the combination a Kafka
// cluster deploys.
func TestRecoveryStoreConformance(t *testing.T) {
	mc := startKafka(t)
	adaptertest.RunStore(t, func(t *testing.T) adapter.RecoveryStore {
		s, _ := kafkaStore(t, mc, sessionStore(t))
		if !s.SharedAcrossNodes() {
			t.Fatal("a Kafka store with Redis sessions is not shared")
		}
		return s
	})
}

// TestRecoveryStoreOffsetOfAnotherTopic: offsets are partition offsets,
// the same numbers in every topic; the record's nonce tells them apart.
func TestRecoveryStoreOffsetOfAnotherTopic(t *testing.T) {
	mc := startKafka(t)
	ctx := context.Background()
	a, _ := kafkaStore(t, mc, adapter.NewMemoryStore(adapter.MemoryStoreOptions{}))
	b, _ := kafkaStore(t, mc, adapter.NewMemoryStore(adapter.MemoryStoreOptions{}))
	var offA, offB []string
	for i := range 3 {
		oa, err := a.Append(ctx, "/", adapter.StoredPacket{Data: fmt.Appendf(nil, `["a",%d]`, i)})
		if err != nil {
			t.Fatal(err)
		}
		ob, err := b.Append(ctx, "/", adapter.StoredPacket{Data: fmt.Appendf(nil, `["b",%d]`, i)})
		if err != nil {
			t.Fatal(err)
		}
		offA, offB = append(offA, oa), append(offB, ob)
	}
	for i := range offB {
		if strings.Split(offA[i], ":")[0] != strings.Split(offB[i], ":")[0] {
			t.Fatalf("the topics' offsets differ (%q, %q): the test needs them equal", offA[i], offB[i])
		}
		if _, err := a.Since(ctx, "/", offB[i], nil, 10); !errors.Is(err, adapter.ErrOffsetGone) {
			t.Fatalf("Since(B's offset %q) on A: %v, want ErrOffsetGone", offB[i], err)
		}
		if got, err := a.Since(ctx, "/", offA[i], nil, 10); err != nil || len(got) != 2-i {
			t.Fatalf("Since(A's offset %q) on A: %d packets, %v", offA[i], len(got), err)
		}
	}
	if a.SharedAcrossNodes() {
		t.Fatal("a Kafka store with memory sessions claims to be shared")
	}
}

func TestRecoveryStoreNeedsSessions(t *testing.T) {
	_, err := kafkaadapter.NewRecoveryStore(context.Background(), kafkaadapter.RecoveryStoreOptions{URL: "kafka://127.0.0.1:1"})
	if !errors.Is(err, kafkaadapter.ErrNoSessionStore) {
		t.Fatalf("NewRecoveryStore without Sessions: %v, want ErrNoSessionStore", err)
	}
}

// TestRecoveryStoreTrimmed drops the oldest records as retention does
// (DeleteRecords): offsets whose next record is gone are refused.
func TestRecoveryStoreTrimmed(t *testing.T) {
	mc := startKafka(t)
	ctx := context.Background()
	s, topic := kafkaStore(t, mc, adapter.NewMemoryStore(adapter.MemoryStoreOptions{}))
	head, err := s.Head(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	var offs []string
	for i := range 8 {
		off, err := s.Append(ctx, "/", adapter.StoredPacket{Data: fmt.Appendf(nil, `[%d]`, i)})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
	}
	admin, err := ck.NewAdminClient(&ck.ConfigMap{"bootstrap.servers": mc.BootstrapServers()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	tp := topic
	res, err := admin.DeleteRecords(ctx, []ck.TopicPartition{{Topic: &tp, Partition: 0, Offset: 3}})
	var kerr ck.Error
	if errors.As(err, &kerr) && kerr.Code() == ck.ErrUnsupportedFeature {
		// librdkafka's mock cluster has no DeleteRecords (nor retention
		// control): the trim detection runs against a real broker only.
		t.Skipf("the broker cannot drop records: %v", err)
	}
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	for _, r := range res.DeleteRecordsResults {
		if err := r.TopicPartition.Error; err != nil {
			if errors.As(err, &kerr) && kerr.Code() == ck.ErrUnsupportedFeature {
				t.Skipf("the broker cannot drop records (librdkafka's mock cluster has no DeleteRecords; the trim detection runs against a real broker only): %v", err)
			}
			t.Fatalf("DeleteRecords: %v (%T)", err, err)
		}
	}
	// Kept: 3..7. From offset 2 nothing is missing; from 1 or before, 2 is.
	if got, err := s.Since(ctx, "/", offs[2], nil, 100); err != nil || len(got) != 5 {
		t.Fatalf("Since(offset 2) = %d packets, %v; want 5", len(got), err)
	}
	for _, off := range []string{offs[0], offs[1], head, ""} {
		if _, err := s.Since(ctx, "/", off, nil, 100); !errors.Is(err, adapter.ErrOffsetGone) {
			t.Fatalf("Since(%q) after the trim: %v, want ErrOffsetGone", off, err)
		}
	}
}

// BenchmarkRecoveryStore measures one call of each kind: events on the
// mock cluster, sessions on the shared Redis.
func BenchmarkRecoveryStore(b *testing.B) {
	mc, err := ck.NewMockCluster(1)
	if err != nil {
		b.Fatal(err)
	}
	defer mc.Close()
	s, _ := kafkaStore(b, mc, sessionStore(b))
	ctx := context.Background()
	p := adapter.StoredPacket{Data: []byte(`["event",{"text":"hello","n":1}]`)}
	b.Run("Append", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Append(ctx, "/", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Head", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Head(ctx, "/"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Since10", func(b *testing.B) {
		head, _ := s.Head(ctx, "/")
		for range 10 {
			_, _ = s.Append(ctx, "/", p)
		}
		for b.Loop() {
			if got, err := s.Since(ctx, "/", head, []string{"sid"}, 100); err != nil || len(got) != 10 {
				b.Fatal(len(got), err)
			}
		}
	})
}
