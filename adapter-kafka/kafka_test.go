//go:build cgo

// The tests in this file run librdkafka's mock cluster, which needs cgo.

package kafkaadapter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	"github.com/siogate/siogate/adapter/adaptertest"
)

func TestConformance(t *testing.T) {
	mc := startKafka(t)
	adaptertest.Run(t, func(t *testing.T) adapter.Factory {
		cfg := adapter.ClusterConfig{
			Prefix:            adaptertest.Prefix(t),
			RequestTimeout:    2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond,
			// Generous: a node busy with 5,000-socket answers under -race and
			// a loaded machine must not be taken for gone.
			HeartbeatTimeout: 10 * time.Second,
		}
		var mu sync.Mutex
		var brokers []*kafkaadapter.Broker
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, b := range brokers {
				_ = b.Close()
			}
		})
		// Each node has its own broker connection.
		return func(local adapter.Local) adapter.Adapter {
			b, err := kafkaadapter.NewBroker(options(mc))
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			brokers = append(brokers, b)
			mu.Unlock()
			return adapter.NewCluster(b, cfg)(local)
		}
	})
}

// Publish creates the topic; a subscriber sees exactly the messages
// published after Subscribe returned, in order.
func TestPublishSubscribeOrder(t *testing.T) {
	mc := startKafka(t)
	b := newBroker(t, options(mc))
	ctx := context.Background()
	ch := adaptertest.Prefix(t) + "#/order#"
	if err := b.Publish(ctx, ch, []byte("old")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 256)
	sub, err := b.Subscribe(ctx, adapter.Subscription{Channels: []string{ch}, Deliver: func(c string, data []byte) {
		if c != ch {
			t.Errorf("delivered on %q", c)
		}
		got <- string(data)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const n = 100
	start := time.Now()
	for i := range n {
		if err := b.Publish(ctx, ch, []byte{byte('0' + i%10)}); err != nil {
			t.Fatal(err)
		}
	}
	pub := time.Since(start)
	for i := range n {
		select {
		case m := <-got:
			if want := string(rune('0' + i%10)); m != want {
				t.Fatalf("message %d = %q, want %q", i, m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d of %d messages", i, n)
		}
	}
	t.Logf("%d sequential publishes: %v (%v each); all delivered after %v", n, pub, pub/n, time.Since(start))
	// Latency of a lone message.
	for range 5 {
		t0 := time.Now()
		if err := b.Publish(ctx, ch, []byte("x")); err != nil {
			t.Fatal(err)
		}
		<-got
		t.Logf("publish→deliver: %v", time.Since(t0))
	}
}

// A node that closes or crashes stops being waited for
// (adaptertest.RunNodeDeath).
func TestNodeDeath(t *testing.T) {
	mc := startKafka(t)
	adaptertest.RunNodeDeath(t, func(t *testing.T) adapter.Broker { return newBroker(t, options(mc)) })
}
