package amqpadapter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// sharedRabbit connects to the shared RabbitMQ on :5672.
func sharedRabbit(t testing.TB) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatalf("RabbitMQ on 127.0.0.1:5672 is needed: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// streamStore returns a store with its own stream on conn, deleted at
// cleanup.
func streamStore(t testing.TB, conn *amqp.Connection, opts amqpadapter.RecoveryStoreOptions) *amqpadapter.RecoveryStore {
	t.Helper()
	opts.Queue = fmt.Sprintf("siogate-test.recovery.%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := amqpadapter.NewRecoveryStore(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("deleting stream %s: %v", opts.Queue, err)
			return
		}
		defer ch.Close()
		if _, err := ch.QueueDelete(opts.Queue, false, false, false); err != nil {
			t.Errorf("deleting stream %s: %v", opts.Queue, err)
		}
	})
	return s
}

// TestRecoveryStoreConformance runs the kit on events in a RabbitMQ
// stream and sessions in the shared Redis.
func TestRecoveryStoreConformance(t *testing.T) {
	conn := sharedRabbit(t)
	adaptertest.RunStore(t, func(t *testing.T) adapter.RecoveryStore {
		s := streamStore(t, conn, amqpadapter.RecoveryStoreOptions{Sessions: redistest.Sessions(t)})
		if !s.SharedAcrossNodes() {
			t.Fatal("a RabbitMQ store with Redis sessions is not shared")
		}
		return s
	})
}

func TestRecoveryStoreNeedsSessions(t *testing.T) {
	_, err := amqpadapter.NewRecoveryStore(context.Background(), sharedRabbit(t), amqpadapter.RecoveryStoreOptions{})
	if !errors.Is(err, amqpadapter.ErrNoSessionStore) {
		t.Fatalf("NewRecoveryStore without Sessions: %v, want ErrNoSessionStore", err)
	}
}

// TestRecoveryStoreTrimmed fills a stream with small segments past its
// x-max-length-bytes: once retention dropped its first segment, the
// offsets there (and "") are refused and the recent ones still serve.
func TestRecoveryStoreTrimmed(t *testing.T) {
	conn := sharedRabbit(t)
	ctx := context.Background()
	s := streamStore(t, conn, amqpadapter.RecoveryStoreOptions{
		MaxLengthBytes: 20_000, SegmentBytes: 4_000, Sessions: adapter.NewMemoryStore(adapter.MemoryStoreOptions{}),
	})
	head, err := s.Head(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	var offs []string
	pad := strings.Repeat("x", 500)
	appendOne := func() {
		off, err := s.Append(ctx, "/", adapter.StoredPacket{Data: fmt.Appendf(nil, `[%d,%q]`, len(offs), pad)})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
	}
	for range 10 {
		appendOne()
	}
	if got, err := s.Since(ctx, "/", offs[0], nil, 1000); err != nil || len(got) != 9 {
		t.Fatalf("Since(first) before any trim: %d packets, %v", len(got), err)
	}
	adaptertest.Eventually(t, "retention drops the first segment", func() error {
		appendOne()
		if _, err := s.Since(ctx, "/", "", nil, 1000); !errors.Is(err, adapter.ErrOffsetGone) {
			return fmt.Errorf("Since(\"\") after %d appends: %v", len(offs), err)
		}
		return nil
	})
	for _, off := range []string{offs[0], head} {
		if _, err := s.Since(ctx, "/", off, nil, 1000); !errors.Is(err, adapter.ErrOffsetGone) {
			t.Fatalf("Since(%q) after the trim: %v, want ErrOffsetGone", off, err)
		}
	}
	last := len(offs) - 1
	if got, err := s.Since(ctx, "/", offs[last-2], nil, 1000); err != nil || len(got) != 2 || got[1].Offset != offs[last] {
		t.Fatalf("Since(a recent offset) = %d packets, %v; want 2", len(got), err)
	}
}

// BenchmarkRecoveryStore measures the store's calls: events on the
// shared RabbitMQ, sessions on the shared Redis.
func BenchmarkRecoveryStore(b *testing.B) {
	adaptertest.BenchStore(b, streamStore(b, sharedRabbit(b), amqpadapter.RecoveryStoreOptions{Sessions: redistest.Sessions(b)}))
}
