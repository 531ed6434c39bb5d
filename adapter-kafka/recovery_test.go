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
	"github.com/siogate/siogate/adapter"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/siogate/siogate/adapter/adaptertest"
)

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
		s, _ := kafkaStore(t, mc, redistest.Sessions(t))
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
	offs := adaptertest.AppendEvents(t, s, "/", 8, 0)
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
	adaptertest.CheckTrimmed(t, s, "/", offs, 3, head)
}

// BenchmarkRecoveryStore measures the store's calls: events on the mock
// cluster, sessions on the shared Redis.
func BenchmarkRecoveryStore(b *testing.B) {
	mc, err := ck.NewMockCluster(1)
	if err != nil {
		b.Fatal(err)
	}
	defer mc.Close()
	s, _ := kafkaStore(b, mc, redistest.Sessions(b))
	adaptertest.BenchStore(b, s)
}
